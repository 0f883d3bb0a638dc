"""The seeds' stories as scripted scenarios of one person.

Each public story takes a person and a start time and returns that person's events in time
order, usable alone in tests; the traffic generator weaves the same scripts (the `*_on`
functions, which write through a `Scribe`) into the random traffic.

1. `research_mobile_buy_laptop` — compares on the smartphone, buys on the laptop, pays the
   courier cash at delivery, calls support about the delivery.
2. `click_and_collect` — orders online, picks the order up in the store.
3. `chat_escalated_to_call` — a support chat escalated to a phone call.
4. `anonymous_then_login` — anonymous browsing (cookie only), then a login on that browser.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from random import Random
from typing import Final

from journey_stitcher.generator.events import Event, Scribe, Session, ident
from journey_stitcher.generator.model import Person
from journey_stitcher.generator.timefmt import to_ms

Script = Callable[[Scribe, int], int]


def _other_device(person: Person, avoid: int) -> int:
    """The laptop (or another device) to switch to; the same one if there is no other."""
    for kind in ("desktop", "tablet", "smartphone"):
        position = person.device(kind)
        if position is not None and position != avoid:
            return position
    return avoid


def _smartphone(person: Person) -> int:
    position = person.device("smartphone")
    return 0 if position is None else position


def _call(s: Scribe) -> str:
    return f"call-{s.person.index:x}-{s.state.next_serial()}"


def research_mobile_buy_laptop_on(s: Scribe, t: int) -> int:
    """Story 1 written through `s`; returns the time of its last event."""
    rng, person = s.rng, s.person
    product = s.product()
    phone = _smartphone(person)
    mobile = s.open_session("web", phone)
    t = s.touch(t, mobile, "inform", refs={"product_id": product},
                attributes={"page": "/prodotti/" + product.lower()})
    t = s.touch(t + s.secs(30, 240), mobile, "compare", refs={"product_id": product},
                attributes={"page": "/confronta/" + product.lower()})
    laptop = s.open_session("web", _other_device(person, phone))
    t = s.login(t + s.hours(1, 30), laptop) + s.secs(10, 60)
    order = s.new_ref("ORD")
    t = s.touch(t, laptop, "purchase", outcome="completed",
                refs={"order_id": order, "cart_id": s.new_ref("CART"), "product_id": product},
                attributes={"page": "/checkout", "payment": "contrassegno",
                            "amount": round(rng.uniform(20, 600), 2), "currency": "EUR"})
    s.state.orders = [*s.state.orders[-2:], order]
    t = s.touch(t + s.secs(20, 120), laptop, "order_delivery", refs={"order_id": order},
                outcome="completed", attributes={"page": "/checkout/consegna", "slot": "mattina"})
    t += s.hours(20, 72)
    t = s.emit(t, "courier", "pay", [], refs={"order_id": order}, outcome="completed",
               attributes={"method": "cash", "carrier": "BRT", "currency": "EUR"})
    t = s.emit(t + s.secs(20, 90), "courier", "delivery", [], refs={"order_id": order},
               outcome="completed", attributes={"carrier": "BRT"})
    return s.emit(t + s.hours(0.5, 24), "voice", "support", s.crm(phone=True),
                  refs={"order_id": order}, outcome="completed", session=_call(s),
                  attributes={"queue": "consegne", "ivr": "pin", "topic": "pacco_danneggiato"})


def collect_in_store(s: Scribe, t: int, order: str, *, pay: bool) -> int:
    """The store half of click & collect: a "ready" SMS, then the pickup at the counter
    (identified by the order number), paying there when `pay`. Returns the last time."""
    store = {"store_id": s.person.home_store}
    s.emit(t, "sms", "order_delivery", [ident("phone", s.noisy_phone())], refs={"order_id": order},
           attributes={"message": "pronto_per_il_ritiro", **store})
    t += s.hours(2, 72)
    if pay:
        t = s.emit(t, "store", "pay", [], refs={"order_id": order}, outcome="completed",
                   attributes={**store, "method": "card"})
        t += s.secs(30, 180)
    return s.emit(t, "store", "pickup", [], refs={"order_id": order}, outcome="completed",
                  attributes=store)


def click_and_collect_on(s: Scribe, t: int) -> int:
    """Story 2 written through `s`; returns the time of its last event."""
    product = s.product()
    device = _smartphone(s.person)
    session = s.open_session("web", device)
    t = s.touch(t, session, "inform", refs={"product_id": product},
                attributes={"page": "/prodotti/" + product.lower(), "availability": "in_negozio"})
    t = s.login(t + s.secs(20, 200), session) + s.secs(10, 60)
    order = s.new_ref("ORD")
    t = s.touch(t, session, "purchase", outcome="completed",
                refs={"order_id": order, "cart_id": s.new_ref("CART"), "product_id": product},
                attributes={"page": "/checkout", "fulfilment": "click_and_collect",
                            "store_id": s.person.home_store})
    s.state.orders = [*s.state.orders[-2:], order]
    t = s.touch(t + s.secs(20, 120), session, "pay", refs={"order_id": order},
                outcome="completed", attributes={"method": "card"})
    return collect_in_store(s, t + s.hours(2, 30), order, pay=False)


def chat_then_call_escalation(s: Scribe, t: int) -> int:
    """Story 3 written through `s`: the chat bot cannot solve it, an agent calls back on the
    phone (IVR PIN: verified) with the case. Returns the time of its last event."""
    device = s.rng.randrange(len(s.person.devices))
    chat: Session = s.open_session("chat", device)
    case = s.new_ref("CASE")
    refs = {"case_id": case}
    if s.state.orders:
        refs["order_id"] = s.state.orders[-1]
    t = s.touch(t, chat, "support", refs=refs, outcome="started",
                attributes={"bot": True, "topic": "garanzia"})
    t = s.touch(t + s.secs(60, 400), chat, "support", refs={"case_id": case}, outcome="failed",
                attributes={"bot": True, "escalation": "voice"})
    return s.emit(t + s.secs(120, 3600), "voice", "support", s.crm(phone=True),
                  refs={"case_id": case}, outcome="completed", session=_call(s),
                  attributes={"queue": "assistenza", "ivr": "pin", "escalated_from": chat.id})


def anonymous_then_login_on(s: Scribe, t: int) -> int:
    """Story 4 written through `s`: a few cookie-only pages, then a login on that browser
    (a browser the person never used before, when the cookie budget allows a fresh one)."""
    person, rng = s.person, s.rng
    device = rng.randrange(len(person.devices))
    if s.knows("web", device):
        s.reset_cookie(device, limit=6)
    session = s.open_session("web", device)
    session.logged_in = False
    product = s.product()
    for touchpoint in ("discover", "inform", "compare")[: rng.randint(2, 3)]:
        t = s.touch(t, session, touchpoint, refs={"product_id": product}, auto_login=False,
                    attributes={"page": "/prodotti/" + product.lower()}) + s.secs(20, 300)
    t = s.login(t, session) + s.secs(5, 60)
    return s.touch(t, session, "verify", refs={"product_id": product},
                   attributes={"page": "/recensioni/" + product.lower()})


SCRIPTS: Final[tuple[Script, ...]] = (
    research_mobile_buy_laptop_on, click_and_collect_on, chat_then_call_escalation,
    anonymous_then_login_on,
)


def random_story(s: Scribe, t: int) -> int:
    """One of the four stories, chosen at random."""
    return s.rng.choice(SCRIPTS)(s, t)


def _tell(script: Script, person: Person, start: datetime, seed: int) -> list[Event]:
    t0 = to_ms(start)
    scribe = Scribe(person, Random(seed), conflict_free=True,
                    id_prefix=f"evt-{person.person_id}-{t0}-")
    script(scribe, t0)
    return [event for _t_ms, event, _pinned in scribe.out]


def research_mobile_buy_laptop(person: Person, start: datetime, *, seed: int = 0) -> list[Event]:
    """Story 1: web on the smartphone (inform, compare), login and purchase on the laptop
    (order_delivery cash on delivery), courier `pay` in cash and `delivery`, then a call to
    support (`voice`) about the delivery with the order number."""
    return _tell(research_mobile_buy_laptop_on, person, start, seed)


def click_and_collect(person: Person, start: datetime, *, seed: int = 0) -> list[Event]:
    """Story 2: web inform, login, purchase and pay online, an SMS that the order is ready,
    then the `pickup` in the store identified by the order number."""
    return _tell(click_and_collect_on, person, start, seed)


def chat_escalated_to_call(person: Person, start: datetime, *, seed: int = 0) -> list[Event]:
    """Story 3: a support chat (started, then failed and escalated) and the phone call that
    completes the same case."""
    return _tell(chat_then_call_escalation, person, start, seed)


def anonymous_then_login(person: Person, start: datetime, *, seed: int = 0) -> list[Event]:
    """Story 4: two or three cookie-only web pages, a login (`identify` with the verified
    customer id and the same cookie), then a page as a known customer."""
    return _tell(anonymous_then_login_on, person, start, seed)
