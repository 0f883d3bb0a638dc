"""Writing the interaction events of one person (SPEC §3).

A `Scribe` knows one person, their state and a random source; journeys and stories call it
to emit events. It picks the identifiers each channel really knows, adds the realistic noise
(upper-case e-mails, phones with spaces) and keeps every event valid for the catalog.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from random import Random
from typing import Any, Final

from journey_stitcher.generator.capabilities import OWNED_REFS, SUPPORTS
from journey_stitcher.generator.model import Person, PersonState
from journey_stitcher.generator.timefmt import HOUR_MS, rfc3339

Event = dict[str, Any]
"""An interaction event exactly as it travels in JSON (SPEC §3)."""

SOURCES: Final[dict[str, str]] = {
    "web": "web-tracker", "app": "app-sdk", "chat": "chat-platform", "email": "esp",
    "social": "social-hub", "kiosk": "kiosk-fleet", "ads": "ad-server", "iot": "iot-hub",
    "voice": "contact-center", "sms": "sms-gateway", "store": "pos", "courier": "courier-api",
    "field_service": "field-service-app", "print": "print-qr",
}
LOCAL_OFFSET: Final[dict[str, int]] = {"store": 60, "courier": 60, "field_service": 60}
"""Channels whose systems stamp Italian local time (+01:00) instead of UTC."""

_BROWSING: Final = frozenset({"discover", "inform", "compare", "verify"})
_BLOCKED: Final = (("email", "undefined"), ("phone", "0000000000"), ("cookie_id", "null"),
                   ("email", "test"), ("phone", "+39 333 3333333"))


def _slot(channel: str, device: int) -> int:
    """Key of what a login makes known: the app install (device) or the browser cookie."""
    return 2 * device + (channel == "app")


Stamped = tuple[int, Event, bool]
"""An event with its time in milliseconds and whether it is pinned: never delivered late,
because later events resolve only through what it links. `identify` events and events that
carry identifiers and owned references are pinned automatically."""


def ident(kind: str, value: str, verified: bool = False) -> dict[str, Any]:
    """One entry of `identifiers`."""
    return {"type": kind, "value": value, "verified": verified}


@dataclass(slots=True)
class Session:
    """A web or app session (or a chat) on one device of the person."""

    channel: str
    device: int
    id: str
    logged_in: bool


class Scribe:
    """Emits the events of one person into `out`, in the order they happen."""

    def __init__(self, person: Person, rng: Random, *, state: PersonState | None = None,
                 conflict_free: bool = False, consent_refusal: float = 0.0,
                 time_scale: float = 1.0, id_prefix: str | None = None, ref_tag: str = "",
                 contact_refs: bool = True) -> None:
        self.person = person
        self.rng = rng
        self.state = state if state is not None else PersonState()
        if not self.state.cookie_generation:
            self.state.cookie_generation = [0] * len(person.devices)
        self.conflict_free = conflict_free
        self.consent_refusal = consent_refusal
        self.time_scale = time_scale
        # Events get ids `<id_prefix><n>`; with an empty prefix the caller sets them.
        self.id_prefix = id_prefix if id_prefix is not None else f"evt-{person.person_id}-"
        self.ref_tag = ref_tag
        # Whether an event with identifiers but no verified one (a cookie, a typed e-mail, the
        # phone of an SMS) may carry owned references: arriving before the owner's events, it
        # would tie the reference to a separate profile that only an unverified link could
        # join. Conflict-free traffic keeps owned references to verified or reference-only
        # events (a courier scan).
        self.contact_refs = contact_refs
        self.out: list[Stamped] = []

    # -- time ---------------------------------------------------------------------------

    def secs(self, low: float, high: float) -> int:
        """A gap inside one session: `low` to `high` seconds, in milliseconds."""
        return int(self.rng.uniform(low, high) * 1000)

    def hours(self, low: float, high: float) -> int:
        """A gap between sessions: log-uniform from `low` to `high` hours, compressed by
        `time_scale` (recent mode) but never under a minute, in milliseconds."""
        value = math.exp(self.rng.uniform(math.log(low), math.log(high)))
        return max(60_000, int(value * HOUR_MS * self.time_scale))

    # -- identifier values --------------------------------------------------------------

    def noisy_email(self, email: str) -> str:
        """The e-mail as a person or a form writes it: sometimes capitalised or padded."""
        roll = self.rng.random()
        if roll < 0.04:
            return email.upper()
        if roll < 0.08:
            return email.capitalize()
        if roll < 0.10:
            return f" {email} "
        return email

    def noisy_phone(self) -> str:
        """The phone as written by a channel: E.164, with spaces or (not conflict-free) in
        national format, which only normalizes right when the configured region is Italy."""
        phone = self.person.phone
        roll = self.rng.random()
        if roll < 0.7:
            return phone
        if roll < 0.85:
            return f"{phone[:3]} {phone[3:6]} {phone[6:9]} {phone[9:]}"
        if roll < 0.95 or self.conflict_free:
            return f"{phone[:3]} {phone[3:6]} {phone[6:]}"
        return f"{phone[3:6]} {phone[6:]}"

    def email_value(self) -> str:
        """An address the person uses in unverified contexts (newsletters, forms)."""
        person, state = self.person, self.state
        email = person.email
        if person.work_email is not None and state.second_email_linked and self.rng.random() < 0.3:
            email = person.work_email
        elif person.family_email is not None and self.rng.random() < 0.2:
            email = person.family_email
        return self.noisy_email(email)

    def cookie(self, device: int) -> str:
        """The current web cookie of a device."""
        return self.person.devices[device].cookie(self.state.cookie_generation[device])

    def device_field(self, device: int) -> dict[str, str]:
        """The `device` object of an event made on one of the person's devices."""
        chosen = self.person.devices[device]
        return {"id": chosen.id, "type": chosen.type}

    def customer_id(self) -> str:
        """The customer id of a login: rarely, outside conflict-free mode, a duplicate account."""
        duplicate = self.person.duplicate_customer_id
        if duplicate is not None and self.rng.random() < 0.1:
            return duplicate
        return self.person.customer_id

    def crm(self, *, email: bool = False, phone: bool = False,
            loyalty: bool = False) -> list[dict[str, Any]]:
        """Identifiers known to a CRM-backed, authenticated channel: all verified."""
        person = self.person
        ids = [ident("customer_id", person.customer_id, True)]
        if email:
            ids.append(ident("email", person.email, True))
        if phone:
            ids.append(ident("phone", person.phone, True))
        if loyalty and person.loyalty_id is not None:
            ids.append(ident("loyalty_id", person.loyalty_id, True))
        return ids

    def session_ids(self, session: Session) -> list[dict[str, Any]]:
        """Identifiers of a web/app/chat event in `session`."""
        if session.channel == "app":
            anonymous = ident("device_id", self.person.devices[session.device].id)
        else:
            anonymous = ident("cookie_id", self.cookie(session.device))
        if not session.logged_in:
            return [anonymous]
        return [ident("customer_id", self.person.customer_id, True), anonymous]

    # -- references ---------------------------------------------------------------------

    def new_ref(self, prefix: str) -> str:
        """A fresh business reference (order, cart, case, appointment), unique per person."""
        return f"{prefix}-{self.ref_tag}{self.person.index:x}-{self.state.next_serial()}"

    def product(self) -> str:
        """A product id, popular products more likely."""
        return f"SKU-{int(5000 * self.rng.random() ** 3):05d}"

    # -- events -------------------------------------------------------------------------

    def emit(self, t_ms: int, channel: str, touchpoint: str, identifiers: list[dict[str, Any]],
             *, refs: dict[str, str] | None = None, outcome: str | None = None,
             device: int | None = None, session: str | None = None,
             attributes: dict[str, Any] | None = None, pinned: bool = False) -> int:
        """Append one event and return its time."""
        if touchpoint not in SUPPORTS[channel]:
            raise ValueError(f"generator bug: {touchpoint!r} is not supported on {channel!r}")
        owned = refs is not None and not OWNED_REFS.isdisjoint(refs)
        if (owned and refs is not None and not self.contact_refs and identifiers
                and not any(identifier["verified"] for identifier in identifiers)):
            refs = {kind: value for kind, value in refs.items() if kind not in OWNED_REFS}
            owned = False
        if not identifiers and not owned:
            raise ValueError("generator bug: an event without identity")
        event: Event = {
            "event_id": self.id_prefix and f"{self.id_prefix}{self.state.next_event()}",
            "occurred_at": rfc3339(t_ms, LOCAL_OFFSET.get(channel, 0)),
            "channel": channel,
            "touchpoint": touchpoint,
            "identifiers": identifiers,
        }
        if refs:
            event["refs"] = refs
        if outcome is not None:
            event["outcome"] = outcome
        if device is not None:
            event["device"] = self.device_field(device)
        if session is not None:
            event["session_id"] = session
        event["source"] = SOURCES[channel]
        if (self.consent_refusal and len(identifiers) == 1 and not owned
                and touchpoint in _BROWSING and self.rng.random() < self.consent_refusal):
            event["consent"] = {"stitching": False}
        if not self.conflict_free and identifiers and self.rng.random() < 0.003:
            kind, value = self.rng.choice(_BLOCKED)
            identifiers.append(ident(kind, value))
        if attributes:
            event["attributes"] = attributes
        pinned = pinned or touchpoint == "identify" or (owned and bool(identifiers))
        self.out.append((t_ms, event, pinned))
        return t_ms

    def knows(self, channel: str, device: int) -> bool:
        """Whether the person signed in with this browser (or app install) before."""
        return _slot(channel, device) in self.state.known_devices

    def open_session(self, channel: str, device: int) -> Session:
        """A new web/app/chat session; known devices are often still logged in."""
        known = self.knows(channel, device) and not self.person.anonymous
        logged = known and self.rng.random() < (0.9 if channel == "app" else 0.6)
        kind = {"web": "ws", "app": "as", "chat": "chat"}[channel]
        return Session(channel, device, f"{kind}-{self.person.index:x}-{self.state.next_serial()}",
                       logged)

    def touch(self, t_ms: int, session: Session, touchpoint: str, *,
              refs: dict[str, str] | None = None, outcome: str | None = None,
              attributes: dict[str, Any] | None = None, pinned: bool = False,
              auto_login: bool = True) -> int:
        """One event of `session`. With `auto_login`, the first anonymous event on a device
        the person never signed in on is followed by a login (the anonymous-to-known stitch),
        so that every browser and app install of a known person ends up linked. Returns the
        time of the last event emitted."""
        self.emit(t_ms, session.channel, touchpoint, self.session_ids(session), refs=refs,
                  outcome=outcome, device=session.device, session=session.id,
                  attributes=attributes, pinned=pinned)
        if (auto_login and not session.logged_in and not self.person.anonymous
                and not self.knows(session.channel, session.device)):
            t_ms = self.login(t_ms + self.secs(5, 90), session)
        return t_ms

    def login(self, t_ms: int, session: Session) -> int:
        """A login (sign-up the first time) on `session`: an `identify` event that links the
        session's cookie or install id to the verified customer id."""
        if session.logged_in:
            return t_ms
        person, state = self.person, self.state
        if not state.registered:
            ids = self.crm(email=True, phone=True, loyalty=True)
            if person.family_email is not None:
                ids.append(ident("email", person.family_email, True))
            if person.iot_device_id is not None:
                ids.append(ident("device_id", person.iot_device_id))
            attributes = {"action": "sign_up"}
            state.registered = True
        else:
            ids = [ident("customer_id", self.customer_id(), True),
                   ident("email", person.email, True)]
            attributes = {"action": "login"}
        ids.extend(self.session_ids(session))
        session.logged_in = True
        state.known_devices.add(_slot(session.channel, session.device))
        return self.emit(t_ms, session.channel, "identify", ids, device=session.device,
                         session=session.id, attributes=attributes)

    def reset_cookie(self, device: int, limit: int) -> None:
        """The person cleared cookies on `device` (at most `limit` times in a lifetime)."""
        state = self.state
        if state.cookie_resets >= limit:
            return
        state.cookie_resets += 1
        state.cookie_generation[device] += 1
        state.known_devices.discard(_slot("web", device))
