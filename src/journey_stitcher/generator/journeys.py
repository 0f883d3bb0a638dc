"""Randomised journeys: a person pursuing one goal across channels and devices.

Each function takes a `Scribe` and the start time (ms) and appends the journey's events in
time order. Purchase journeys go discover → inform/compare/verify → purchase → pay →
order_delivery → delivery/pickup (or are abandoned), service journeys go through support,
complaint, return and technician visits, loyalty journeys through points and feedback.
"""

from __future__ import annotations

from typing import Any, Final

from journey_stitcher.generator import stories
from journey_stitcher.generator.events import Scribe, Session, ident

RESEARCH: Final = ("inform", "inform", "compare", "compare", "verify")
PAGES: Final[dict[str, str]] = {
    "discover": "/", "inform": "/prodotti/", "compare": "/confronta/", "verify": "/recensioni/",
    "purchase": "/checkout", "pay": "/checkout/pagamento", "order_delivery": "/checkout/consegna",
    "support": "/assistenza", "complaint": "/assistenza/reclamo", "return": "/resi",
    "feedback": "/feedback", "loyalty": "/fedelta",
}
CAMPAIGNS: Final = ("black-friday", "natale", "saldi-inverno", "back-to-school", "newsletter-settimanale")
COURIERS: Final = ("BRT", "GLS", "SDA", "Poste Delivery", "DHL")
COOKIE_RESET_LIMIT: Final = 6
"""Cookie resets per person; a few people clear cookies all the time (not conflict-free)."""


def _device(s: Scribe, preferred: str, chance: float) -> int:
    """A device of the person: `preferred` with probability `chance` when they have one."""
    position = s.person.device(preferred)
    if position is not None and s.rng.random() < chance:
        return position
    return int(s.rng.random() * len(s.person.devices))


def _clears_cookies(s: Scribe) -> bool:
    return not s.conflict_free and s.person.index % 97 == 13


def _web_or_app(s: Scribe, device: int) -> str:
    return "app" if s.person.devices[device].app and s.rng.random() < 0.6 else "web"


def open_digital(s: Scribe, channel: str, device: int) -> Session:
    """A new web/app session, first clearing the browser's cookies now and then."""
    if channel != "app" and not (s.person.anonymous and s.conflict_free):
        clearer = _clears_cookies(s)
        if s.rng.random() < (0.5 if clearer else 0.015):
            s.reset_cookie(device, 10_000 if clearer else COOKIE_RESET_LIMIT)
    return s.open_session(channel, device)


def _page(touchpoint: str, product: str | None = None) -> dict[str, Any]:
    path = PAGES.get(touchpoint, "/")
    return {"page": path + product.lower() if product and path.endswith("/") else path}


def discover(s: Scribe, t: int, product: str) -> tuple[int, int | None]:
    """A one-way or outbound contact that makes the person aware of a product. Returns the
    time and, for an ad click, the device whose browser continues on the web site."""
    person, rng = s.person, s.rng
    refs = {"product_id": product}
    roll = rng.random()
    if person.anonymous or not s.state.registered or roll < 0.4:  # no e-mail before sign-up
        device = _device(s, "smartphone", 0.7)
        s.emit(t, "ads", "discover", [ident("cookie_id", s.cookie(device))], refs=refs,
               device=device, attributes={"campaign": rng.choice(CAMPAIGNS), "placement": "display"})
        return t, device
    if roll < 0.65:
        s.emit(t, "email", "discover", [ident("email", s.email_value())], refs=refs,
               attributes={"campaign": rng.choice(CAMPAIGNS), "action": "click"})
    elif roll < 0.75:
        s.emit(t, "sms", "discover", [ident("phone", s.noisy_phone())], refs=refs,
               attributes={"campaign": rng.choice(CAMPAIGNS)})
    elif roll < 0.85 and person.loyalty_id is not None:
        s.emit(t, "print", "discover", [ident("loyalty_id", person.loyalty_id)], refs=refs,
               attributes={"campaign": "volantino-" + rng.choice(CAMPAIGNS), "qr": True})
    elif roll < 0.9 and person.iot_device_id is not None:
        s.emit(t, "iot", "discover", [ident("device_id", person.iot_device_id)], refs=refs,
               attributes={"signal": "consumable_low", "level_pct": rng.randint(3, 15)})
    else:
        device = _device(s, "smartphone", 0.9)
        s.emit(t, "social", "discover", [ident("cookie_id", s.cookie(device))], refs=refs,
               device=device, attributes={"network": rng.choice(("instagram", "facebook", "tiktok"))})
        return t, device
    return t, None


def _offline_research(s: Scribe, t: int, touchpoint: str, product: str) -> int:
    """A research contact on an assisted or physical channel (needs a registered person)."""
    person, rng = s.person, s.rng
    refs = {"product_id": product}
    roll = rng.random()
    if roll < 0.3 + 0.4 * person.store_affinity and person.loyalty_id is not None:
        return s.emit(t, "store", touchpoint, s.crm(loyalty=True), refs=refs,
                      attributes={"store_id": person.home_store})
    if roll < 0.55:
        return s.emit(t, "voice", touchpoint, [ident("phone", s.noisy_phone())], refs=refs,
                      session=f"call-{person.index:x}-{s.state.next_serial()}",
                      attributes={"queue": "vendite", "duration_s": rng.randint(60, 900)})
    if roll < 0.7:
        value = person.loyalty_id
        kind = "loyalty_id" if value is not None else "phone"
        return s.emit(t, "kiosk", touchpoint, [ident(kind, value or s.noisy_phone())], refs=refs,
                      attributes={"store_id": person.home_store})
    if roll < 0.85:
        return s.emit(t, "email", touchpoint, [ident("email", s.email_value())], refs=refs,
                      attributes={"action": "open"})
    device = _device(s, "smartphone", 0.9)
    if not s.knows("web", device):
        return s.emit(t, "email", touchpoint, [ident("email", s.email_value())], refs=refs,
                      attributes={"action": "open"})
    return s.emit(t, "social", touchpoint, [ident("cookie_id", s.cookie(device))], refs=refs,
                  device=device, attributes={"network": "instagram", "action": "comment"})


def research(s: Scribe, t: int, product: str, steps: int, *,
             device: int | None = None) -> tuple[int, Session | None]:
    """`steps` pre-purchase touchpoints, mostly web and app on the smartphone, sometimes on an
    assisted channel; often several in a row in one session, minutes apart."""
    rng, person = s.rng, s.person
    session: Session | None = None
    for step in range(steps):
        touchpoint = RESEARCH[int(rng.random() * len(RESEARCH))]
        refs, page = {"product_id": product}, _page(touchpoint, product)
        if session is not None and rng.random() < 0.7:
            t = s.touch(t + s.secs(15, 400), session, touchpoint, refs=refs, attributes=page)
            continue
        if step > 0:
            t += s.hours(0.1, 30)
        if device is not None and step == 0:
            # The landing page of an ad click: same browser, no cookie reset in between.
            session = s.open_session("web", device)
        elif s.state.registered and not person.anonymous and rng.random() < 0.2:
            session = None
            t = _offline_research(s, t, touchpoint, product)
            continue
        else:
            chosen = _device(s, "smartphone", 0.65)
            channel = "web" if person.anonymous else _web_or_app(s, chosen)
            if not person.anonymous and rng.random() < 0.08:
                channel = "chat"
            session = open_digital(s, channel, chosen)
        t = s.touch(t, session, touchpoint, refs=refs, attributes=page)
    return t, session


def _checkout_session(s: Scribe, t: int, session: Session | None) -> tuple[int, Session]:
    """The session the person buys in: often the laptop, a new session after a pause."""
    if session is not None and s.rng.random() < 0.45 and session.channel != "chat":
        return t + s.secs(20, 600), session
    device = _device(s, "desktop", 0.55)
    session = open_digital(s, _web_or_app(s, device), device)
    return t + s.hours(0.05, 48), session


def _deliver(s: Scribe, t: int, order: str, *, cash: bool) -> int:
    """Courier scans (only the order reference, no identifiers), paying cash if `cash`."""
    rng = s.rng
    refs = {"order_id": order}
    carrier = {"carrier": rng.choice(COURIERS), "tracking": f"TRK{rng.getrandbits(40):012d}"}
    if rng.random() < 0.5:
        s.emit(t, "sms", "order_delivery", [ident("phone", s.noisy_phone())], refs=refs,
               attributes={"message": "in_consegna_oggi"})
        t += s.hours(0.5, 5)
    if rng.random() < 0.08:
        s.emit(t, "courier", "delivery", [], refs=refs, outcome="failed",
               attributes={**carrier, "reason": "destinatario_assente"})
        t += s.hours(18, 30)
    if cash:
        s.emit(t, "courier", "pay", [], refs=refs, outcome="completed",
               attributes={"method": "cash", "amount": round(rng.uniform(9, 400), 2), "currency": "EUR"})
        t += s.secs(20, 120)
    return s.emit(t, "courier", "delivery", [], refs=refs, outcome="completed", attributes=carrier)


def _aftercare(s: Scribe, t: int, order: str) -> None:
    """Sometimes, after an order: a survey, a call about the delivery or a return."""
    rng = s.rng
    roll = rng.random()
    refs = {"order_id": order}
    if roll < 0.2:
        s.emit(t + s.hours(12, 96), "email", "feedback", [ident("email", s.email_value())],
               refs=refs, attributes={"survey": "nps", "score": rng.choice((6, 8, 9, 9, 10, 10))})
    elif roll < 0.26:
        s.emit(t + s.hours(1, 48), "voice", "support", s.crm(phone=True), refs=refs,
               outcome="completed", session=f"call-{s.person.index:x}-{s.state.next_serial()}",
               attributes={"queue": "consegne", "ivr": "pin"})
    elif roll < 0.32:
        return_journey(s, t + s.hours(24, 120), order)


def purchase(s: Scribe, t: int) -> None:
    """A purchase journey: research, then (usually) an order online, in store or by phone,
    payment, delivery or pickup; otherwise abandoned, sometimes with a cart reminder."""
    person, rng = s.person, s.rng
    product = s.product()
    device = None
    if s.state.registered and rng.random() < 0.5:
        t, device = discover(s, t, product)
        t += s.secs(5, 120) if device is not None else s.hours(0.2, 72)
    t, session = research(s, t, product, 1 + min(6, int(rng.expovariate(0.55))), device=device)
    if person.anonymous:
        return
    roll = rng.random()
    if roll < 0.3:
        return  # abandoned while researching
    if roll < 0.42:
        _abandoned_cart(s, t + s.secs(20, 300), session, product)
        return
    if roll < 0.42 + 0.25 * person.store_affinity and person.loyalty_id is not None:
        _store_purchase(s, t + s.hours(2, 72), product)
        return
    if roll > 0.96:
        _phone_order(s, t + s.hours(0.5, 48), product)
        return
    t, session = _checkout_session(s, t, session)
    _online_order(s, t, session, product)


def _online_order(s: Scribe, t: int, session: Session, product: str,
                  cart: str | None = None) -> None:
    rng = s.rng
    t = s.login(t, session) + s.secs(10, 60)
    order = s.new_ref("ORD")
    refs = {"order_id": order, "cart_id": cart or s.new_ref("CART"), "product_id": product}
    roll = rng.random()
    fulfilment = "delivery" if roll < 0.7 else "click_and_collect" if roll < 0.9 else "pickup_point"
    t = s.touch(t, session, "purchase", refs=refs, outcome="completed",
                attributes={"page": "/checkout", "fulfilment": fulfilment,
                            "amount": round(rng.uniform(9, 900), 2), "currency": "EUR"})
    s.state.orders = [*s.state.orders[-2:], order]
    # Cash to the courier, or at the store counter; parcel lockers need paying upfront.
    pay_later = fulfilment != "pickup_point" and rng.random() < (
        0.2 if fulfilment == "delivery" else 0.1)
    if not pay_later:
        t = s.touch(t + s.secs(20, 180), session, "pay", refs={"order_id": order},
                    outcome="completed", attributes={"method": rng.choice(("card", "paypal", "satispay"))})
    if fulfilment == "delivery":
        t = s.touch(t + s.secs(10, 120), session, "order_delivery", refs={"order_id": order},
                    outcome="completed", attributes={"slot": rng.choice(("mattina", "pomeriggio", "sera"))})
        t = _deliver(s, t + s.hours(20, 80), order, cash=pay_later)
    elif fulfilment == "click_and_collect":
        t = stories.collect_in_store(s, t + s.hours(2, 48), order, pay=pay_later)
    else:
        t += s.hours(20, 72)
        s.emit(t, "courier", "pickup", [], refs={"order_id": order}, outcome="completed",
               attributes={"point": "locker", "carrier": rng.choice(COURIERS)})
    _aftercare(s, t, order)


def _abandoned_cart(s: Scribe, t: int, session: Session | None, product: str) -> None:
    """A cart left at checkout; a reminder e-mail, and sometimes the purchase after all."""
    rng = s.rng
    if session is None or session.channel == "chat":
        t, session = _checkout_session(s, t, session)
    cart = s.new_ref("CART")
    t = s.touch(t, session, "purchase", refs={"cart_id": cart, "product_id": product},
                outcome="abandoned", attributes={"page": "/carrello"})
    if not session.logged_in:
        return
    t += s.hours(2, 30)
    s.emit(t, "email", "discover", [ident("email", s.email_value())],
           refs={"cart_id": cart, "product_id": product},
           attributes={"campaign": "carrello-abbandonato", "action": "click"})
    if rng.random() < 0.35:
        device = session.device
        _online_order(s, t + s.secs(30, 600), open_digital(s, _web_or_app(s, device), device),
                      product, cart)


def _store_purchase(s: Scribe, t: int, product: str) -> None:
    """Buying in the store with the loyalty card: the till knows the CRM customer."""
    rng = s.rng
    order = s.new_ref("ORD")
    store = {"store_id": s.person.home_store, "till": rng.randint(1, 12)}
    ids = s.crm(loyalty=True)
    t = s.emit(t, "store", "purchase", ids, refs={"order_id": order, "product_id": product},
               outcome="completed", attributes=store)
    s.emit(t + s.secs(30, 240), "store", "pay", s.crm(loyalty=True), refs={"order_id": order},
           outcome="completed", attributes={**store, "method": rng.choice(("card", "cash"))})
    if rng.random() < 0.25:
        s.emit(t + s.hours(2, 72), "email", "feedback", [ident("email", s.email_value())],
               refs={"order_id": order}, attributes={"survey": "csat", "score": rng.randint(3, 5)})


def _phone_order(s: Scribe, t: int, product: str) -> None:
    """An order taken by the contact centre (IVR PIN: verified), delivered by courier."""
    order = s.new_ref("ORD")
    call = f"call-{s.person.index:x}-{s.state.next_serial()}"
    t = s.emit(t, "voice", "purchase", s.crm(phone=True),
               refs={"order_id": order, "product_id": product}, outcome="completed",
               session=call, attributes={"queue": "ordini", "ivr": "pin"})
    s.state.orders = [*s.state.orders[-2:], order]
    cash = s.rng.random() < 0.5
    if not cash:
        t = s.emit(t + s.secs(60, 300), "voice", "pay", s.crm(phone=True), refs={"order_id": order},
                   outcome="completed", session=call, attributes={"method": "card"})
    _deliver(s, t + s.hours(20, 80), order, cash=cash)


def return_journey(s: Scribe, t: int, order: str) -> None:
    """A return opened on the web or app, collected by the courier or brought to a store."""
    rng = s.rng
    device = _device(s, "smartphone", 0.6)
    session = open_digital(s, _web_or_app(s, device), device)
    t = s.login(t, session)
    case = s.new_ref("CASE")
    refs = {"order_id": order, "case_id": case}
    t = s.touch(t + s.secs(10, 60), session, "return", refs=refs, outcome="started",
                attributes={"reason": rng.choice(("taglia", "difettoso", "ripensamento"))})
    if rng.random() < 0.6:
        s.emit(t + s.hours(20, 72), "courier", "return", [], refs=refs, outcome="completed",
               attributes={"carrier": rng.choice(COURIERS)})
    else:
        ids = s.crm(loyalty=True) if s.person.loyalty_id else [ident("phone", s.noisy_phone())]
        s.emit(t + s.hours(4, 96), "store", "return", ids, refs=refs, outcome="completed",
               attributes={"store_id": s.person.home_store})


def service(s: Scribe, t: int) -> None:
    """A service journey: escalated chat, complaint, technician visit, return or sensor alert."""
    person, rng = s.person, s.rng
    roll = rng.random()
    if roll < 0.3:
        stories.chat_then_call_escalation(s, t)
    elif roll < 0.5:
        _complaint(s, t)
    elif roll < 0.7 or (roll < 0.78 and person.iot_device_id is None):
        _technician(s, t)
    elif roll < 0.78 and person.iot_device_id is not None:
        s.emit(t, "iot", "support", [ident("device_id", person.iot_device_id)],
               attributes={"signal": "maintenance_needed", "code": f"E{rng.randint(10, 99)}"})
        _technician(s, t + s.hours(0.2, 12))
    elif s.state.orders:
        return_journey(s, t, rng.choice(s.state.orders))
    else:
        _support_call(s, t)


def _support_call(s: Scribe, t: int) -> None:
    call = f"call-{s.person.index:x}-{s.state.next_serial()}"
    case = s.new_ref("CASE")
    t = s.emit(t, "voice", "support", s.crm(phone=True), refs={"case_id": case},
               outcome="completed", session=call, attributes={"queue": "assistenza", "ivr": "pin"})
    if s.rng.random() < 0.4:
        s.emit(t + s.hours(0.5, 24), "sms", "feedback", [ident("phone", s.noisy_phone())],
               refs={"case_id": case}, attributes={"score": s.rng.randint(1, 5)})


def _complaint(s: Scribe, t: int) -> None:
    """A complaint by e-mail or on social media, a call back from an agent, a survey."""
    rng = s.rng
    case = s.new_ref("CASE")
    refs = {"case_id": case}
    if s.state.orders and rng.random() < 0.6:
        refs["order_id"] = s.state.orders[-1]
    channel = "email" if rng.random() < 0.7 else "social"
    t = s.emit(t, channel, "complaint", [ident("email", s.email_value())], refs=refs,
               outcome="started", attributes={"topic": rng.choice(("ritardo", "danneggiato", "addebito"))})
    t += s.hours(1, 40)
    t = s.emit(t, "voice", "complaint", s.crm(phone=True, email=True), refs={"case_id": case},
               outcome="completed", session=f"call-{s.person.index:x}-{s.state.next_serial()}",
               attributes={"queue": "reclami", "direction": "outbound"})
    if rng.random() < 0.5:
        s.emit(t + s.hours(2, 48), "email", "feedback", [ident("email", s.email_value())],
               refs={"case_id": case}, attributes={"survey": "csat", "score": rng.randint(1, 5)})


def _technician(s: Scribe, t: int) -> None:
    """A service request, an appointment reminder and the technician's visit at home."""
    rng = s.rng
    case, appointment = s.new_ref("CASE"), s.new_ref("APT")
    refs = {"case_id": case, "appointment_id": appointment}
    if rng.random() < 0.5:
        t = s.emit(t, "voice", "support", s.crm(phone=True), refs=refs, outcome="completed",
                   session=f"call-{s.person.index:x}-{s.state.next_serial()}",
                   attributes={"queue": "assistenza-tecnica", "ivr": "pin"})
    else:
        device = _device(s, "smartphone", 0.8)
        session = open_digital(s, _web_or_app(s, device), device)
        t = s.login(t, session)
        t = s.touch(t + s.secs(10, 60), session, "support", refs=refs, outcome="completed",
                    attributes={"page": "/assistenza/appuntamento"})
    t += s.hours(12, 96)
    s.emit(t, "sms", "support", [ident("phone", s.noisy_phone())], refs={"appointment_id": appointment},
           attributes={"message": "promemoria_appuntamento"})
    t += s.hours(12, 30)
    technician = {"technician": f"T{rng.randint(100, 999)}"}
    t = s.emit(t, "field_service", "service_visit", [], refs=refs, outcome="completed",
               attributes=technician)
    if rng.random() < 0.3:
        t = s.emit(t + s.secs(60, 600), "field_service", "pay", [], refs=refs, outcome="completed",
                   attributes={**technician, "method": "pos", "amount": round(rng.uniform(40, 180), 2)})
    if rng.random() < 0.5:
        s.emit(t + s.secs(60, 900), "field_service", "feedback", [], refs={"appointment_id": appointment},
               attributes={"score": rng.randint(1, 5)})


def loyalty(s: Scribe, t: int) -> None:
    """Loyalty touchpoints: points in the app or at the store, surveys, social feedback."""
    person, rng = s.person, s.rng
    roll = rng.random()
    if roll < 0.35:
        device = _device(s, "smartphone", 0.9)
        session = open_digital(s, _web_or_app(s, device), device)
        t = s.login(t, session)
        t = s.touch(t + s.secs(3, 30), session, "loyalty", attributes={"action": "points_balance"})
        if rng.random() < 0.3:
            s.touch(t + s.secs(10, 120), session, "loyalty", outcome="completed",
                    attributes={"action": "redeem", "points": rng.choice((500, 1000, 2000))})
    elif roll < 0.55 and person.loyalty_id is not None:
        channel = "store" if rng.random() < 0.6 else "kiosk"
        ids = s.crm(loyalty=True) if channel == "store" else [ident("loyalty_id", person.loyalty_id)]
        s.emit(t, channel, "loyalty", ids, outcome="completed",
               attributes={"store_id": person.home_store, "action": "points_redeem"})
    elif roll < 0.75:
        s.emit(t, "email", "loyalty", [ident("email", s.email_value())],
               attributes={"campaign": "estratto-punti", "action": "open"})
        if rng.random() < 0.3:
            s.emit(t + s.hours(0.1, 48), "sms", "feedback", [ident("phone", s.noisy_phone())],
                   attributes={"score": rng.randint(1, 10)})
    elif roll < 0.85:
        s.emit(t, "social", "feedback", [ident("email", s.email_value())],
               attributes={"network": "facebook", "rating": rng.randint(1, 5)})
    else:
        s.emit(t, "sms", "feedback", [ident("phone", s.noisy_phone())],
               attributes={"score": rng.randint(1, 10)})


def account_update(s: Scribe, t: int) -> None:
    """A CRM update by an agent or at the store (`identify`): adds the work e-mail."""
    person, rng = s.person, s.rng
    ids = s.crm(email=True, phone=True)
    if person.work_email is not None and not s.state.second_email_linked:
        ids.append(ident("email", person.work_email, True))
        s.state.second_email_linked = True
    if rng.random() < 0.5:
        s.emit(t, "voice", "identify", ids, session=f"call-{person.index:x}-{s.state.next_serial()}",
               attributes={"action": "crm_update", "ivr": "pin"})
    else:
        s.emit(t, "store", "identify", ids,
               attributes={"action": "crm_update", "store_id": person.home_store})


def browse(s: Scribe, t: int) -> None:
    """Looking around without buying: an ad or a social post, then a few pages."""
    product = s.product()
    t, device = discover(s, t, product)
    steps = 1 + min(4, int(s.rng.expovariate(0.8)))
    research(s, t + s.secs(3, 60), product, steps, device=device)


STORY_WEIGHT: Final = 0.06
"""Share of a known person's journeys that follow one of the seeds' scripted stories."""


def any_journey(s: Scribe, t: int) -> None:
    """The next journey of a person: anonymous visitors only browse; a known person's first
    journey starts on a digital channel (where they sign up); later ones vary."""
    if s.person.anonymous:
        (browse if s.rng.random() < 0.6 else purchase)(s, t)
        return
    if not s.state.registered:
        (purchase if s.rng.random() < 0.7 else browse)(s, t)
        return
    roll = s.rng.random()
    if roll < STORY_WEIGHT:
        stories.random_story(s, t)
    elif roll < 0.5:
        purchase(s, t)
    elif roll < 0.62:
        browse(s, t)
    elif roll < 0.8:
        service(s, t)
    elif roll < 0.95:
        loyalty(s, t)
    else:
        account_update(s, t)
