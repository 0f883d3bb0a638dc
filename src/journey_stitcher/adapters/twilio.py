"""Voice and SMS: Twilio webhooks (form-encoded) → interaction events.

* Voice status callbacks (``CallSid``, ``CallStatus``, ``From``, ``To``, ``Direction``,
  ``Timestamp``, ``CallDuration``): one event per status Twilio reports, id
  ``twilio:<CallSid>:<CallStatus>``, ``session_id`` the CallSid.
* Incoming messages (``MessageSid``, ``From``, ``To``, ``Body``, ``OptOutType``): one event, id
  ``twilio:<MessageSid>``. Outbound message status callbacks (``MessageStatus`` sent, delivered,
  ...) are delivery reports, not touchpoints: skipped (``delivery_status``).

Decisions (see docs/channels.md):

* The customer is the caller on inbound calls and the called party on outbound ones; a party that
  is one of the company's configured ``lines`` is never the customer. The number is reported by
  the carrier and can be spoofed: ``phone`` is unverified. Withheld caller ids (Twilio's
  ``+266696687`` "ANONYMOUS" and friends) are no identity: rejected (``no_identity``).
* The company number (the line) selects the touchpoint through ``lines`` (sales line →
  ``inform``, support line → ``support``), else ``default_touchpoint``.
* Call status → outcome: queued/initiated/ringing/in-progress → started, completed → completed,
  busy/failed/no-answer → failed (the contact did not take place), canceled → abandoned (hung up
  or cancelled before anyone answered). Configurable.
* WhatsApp messages through Twilio (``From=whatsapp:+...``) go to ``whatsapp_channel`` (chat).
* The message body is not copied into the event (it is free text, often personal data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from journey_stitcher.adapters.base import (
    Adapter,
    AdapterResult,
    Event,
    Touch,
    build_event,
    collect,
    event_id,
    identifier,
    require_aware,
)
from journey_stitcher.adapters.errors import (
    DELIVERY_STATUS,
    INVALID_ENCODING,
    INVALID_FIELD,
    INVALID_PAYLOAD,
    INVALID_TIMESTAMP,
    MISSING_FIELD,
    NO_IDENTITY,
    AdapterError,
    Skip,
)

__all__ = [
    "DEFAULT_CALL_OUTCOMES",
    "DEFAULT_TWILIO_CONFIG",
    "WITHHELD_CALLER_IDS",
    "TwilioConfig",
    "parse_form",
    "twilio_adapter",
    "twilio_event",
    "twilio_sms_event",
    "twilio_voice_event",
]

DEFAULT_CALL_OUTCOMES: Mapping[str, str] = MappingProxyType({
    "queued": "started",
    "initiated": "started",
    "ringing": "started",
    "in-progress": "started",
    "answered": "started",
    "completed": "completed",
    "busy": "failed",
    "failed": "failed",
    "no-answer": "failed",
    "canceled": "abandoned",
})
"""Twilio ``CallStatus`` → outcome."""

DEFAULT_OPT_OUT_TOUCHPOINTS: Mapping[str, Touch] = MappingProxyType({
    "STOP": Touch("feedback"),
    "START": Touch("feedback"),
    "HELP": Touch("support"),
})
"""Twilio Advanced Opt-Out keyword class (``OptOutType``) → touchpoint of that message."""

WITHHELD_CALLER_IDS = frozenset({
    # Keypad spellings Twilio puts in From when the caller id is not available.
    "+266696687",  # ANONYMOUS
    "+7378742833",  # RESTRICTED
    "+86282452253",  # UNAVAILABLE
    "+8656696",  # UNKNOWN
    "+2562533",  # BLOCKED
    "anonymous", "restricted", "unavailable", "unknown", "blocked", "private",
})


@dataclass(frozen=True)
class TwilioConfig:
    """How Twilio webhooks map to the catalog; ``DEFAULT_TWILIO_CONFIG`` is the default."""

    lines: Mapping[str, str] = field(default_factory=dict)
    """The company's numbers, E.164 as Twilio sends them → touchpoint of contacts on that line."""
    default_touchpoint: str = "support"
    """Touchpoint of a contact on a number absent from ``lines``."""
    call_outcomes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CALL_OUTCOMES))
    opt_out_touchpoints: Mapping[str, Touch] = field(
        default_factory=lambda: dict(DEFAULT_OPT_OUT_TOUCHPOINTS)
    )
    voice_channel: str = "voice"
    sms_channel: str = "sms"
    whatsapp_channel: str = "chat"
    source: str = "twilio"
    id_prefix: str = "twilio"


DEFAULT_TWILIO_CONFIG = TwilioConfig()


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (a repeated key keeps its last)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AdapterError(INVALID_ENCODING, f"the form body is not UTF-8: {error}") from None
    fields = "&".join(part for part in text.strip().split("&") if part)  # tolerate "a=1&"
    try:
        pairs = parse_qsl(fields, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as error:
        raise AdapterError(
            INVALID_PAYLOAD, f"the body is not a form-encoded parameter list: {error}"
        ) from None
    return dict(pairs)


def _text(params: Mapping[str, str], key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def _required(params: Mapping[str, str], key: str) -> str:
    value = _text(params, key)
    if value is None:
        raise AdapterError(MISSING_FIELD, f"{key} is missing", key)
    return value


def _occurred_at(params: Mapping[str, str], received_at: datetime) -> datetime:
    raw = _text(params, "Timestamp")
    if raw is None:
        return received_at
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise AdapterError(
            INVALID_TIMESTAMP, f"Timestamp {raw!r} is not an RFC 2822 date with a zone",
            "Timestamp",
        )
    return parsed


_CHANNEL_PREFIX = re.compile(r"^(?P<scheme>[a-z]+):(?P<rest>.*)$", re.IGNORECASE)


def _customer_phone(value: str, key: str) -> tuple[str, str | None]:
    """The customer's number and the messaging scheme it came with (``whatsapp``), if any."""
    scheme: str | None = None
    match = _CHANNEL_PREFIX.match(value)
    if match is not None:
        scheme = match["scheme"].casefold()
        if scheme not in ("whatsapp", "tel"):
            raise AdapterError(
                NO_IDENTITY,
                f"{key} {value!r} is a {scheme} address (a Twilio Client or SIP party), "
                "not a customer's phone number",
                key,
            )
        value = match["rest"].strip()
        scheme = None if scheme == "tel" else scheme
    if value.casefold() in WITHHELD_CALLER_IDS:
        raise AdapterError(
            NO_IDENTITY, f"{key} {value!r} means the caller id was withheld", key
        )
    if not re.fullmatch(r"\+?[\d\s().\-]{3,20}", value):
        raise AdapterError(NO_IDENTITY, f"{key} {value!r} is not a phone number", key)
    return value, scheme


def _parties(params: Mapping[str, str], config: TwilioConfig,
             outbound: bool) -> tuple[str, str, str]:
    """(customer number, line, the key the customer number came from)."""
    caller = _required(params, "From")
    called = _required(params, "To")
    customer_key = "To" if outbound else "From"
    if customer_key == "From" and caller in config.lines and called not in config.lines:
        customer_key = "To"
    elif customer_key == "To" and called in config.lines and caller not in config.lines:
        customer_key = "From"
    if customer_key == "From":
        return caller, called, "From"
    return called, caller, "To"


def twilio_voice_event(
    params: Mapping[str, str],
    *,
    received_at: datetime,
    config: TwilioConfig = DEFAULT_TWILIO_CONFIG,
) -> Event:
    """The interaction event of one voice status callback (or incoming-call webhook)."""
    call_sid = _required(params, "CallSid")
    status = _required(params, "CallStatus").casefold()
    if status not in config.call_outcomes:
        raise AdapterError(
            INVALID_FIELD,
            f"CallStatus {params['CallStatus']!r} is not a Twilio call status "
            f"({', '.join(sorted(config.call_outcomes))})",
            "CallStatus",
        )
    direction = (_text(params, "Direction") or "inbound").casefold()
    customer, line, key = _parties(params, config, outbound=direction.startswith("outbound"))
    phone, _scheme = _customer_phone(customer, key)
    occurred_at = _occurred_at(params, received_at)

    attributes: dict[str, Any] = {
        "twilio_kind": "voice",
        "direction": direction,
        "call_status": status,
        "line": line,
    }
    duration = _text(params, "CallDuration")
    if duration is not None:
        if not duration.isdigit():
            raise AdapterError(
                INVALID_FIELD, f"CallDuration {duration!r} is not a number of seconds",
                "CallDuration",
            )
        attributes["duration_seconds"] = int(duration)
    for source_key, name in (("ParentCallSid", "parent_call_sid"),
                             ("AnsweredBy", "answered_by"),
                             ("StirVerstat", "stir_verstat")):
        value = _text(params, source_key)
        if value is not None:
            attributes[name] = value

    return build_event(
        event_id=event_id(config.id_prefix, call_sid, status),
        occurred_at=occurred_at,
        channel=config.voice_channel,
        touchpoint=config.lines.get(line, config.default_touchpoint),
        identifiers=[identifier("phone", phone, False)],
        outcome=config.call_outcomes[status],
        session_id=call_sid,
        source=config.source,
        attributes=attributes,
    )


def twilio_sms_event(
    params: Mapping[str, str],
    *,
    received_at: datetime,
    config: TwilioConfig = DEFAULT_TWILIO_CONFIG,
) -> Event:
    """The interaction event of one incoming message (SMS, MMS or WhatsApp)."""
    sid_key = "MessageSid" if _text(params, "MessageSid") else "SmsSid"
    message_sid = _required(params, sid_key)
    status_key = "MessageStatus" if "MessageStatus" in params else "SmsStatus"
    status = (_text(params, status_key) or "received").casefold()
    if status != "received":
        raise Skip(
            DELIVERY_STATUS,
            f"{status_key} {status!r} reports on a message the company sent; "
            "it is not a customer touchpoint",
            status_key,
        )
    customer = _required(params, "From")
    line = _required(params, "To")
    phone, scheme = _customer_phone(customer, "From")
    occurred_at = _occurred_at(params, received_at)

    opt_out = (_text(params, "OptOutType") or "").upper()
    line_key = line.split(":", 1)[1] if ":" in line else line
    touch = config.opt_out_touchpoints.get(opt_out) if opt_out else None
    touchpoint = touch.touchpoint if touch else config.lines.get(
        line_key, config.default_touchpoint
    )
    attributes: dict[str, Any] = {"twilio_kind": scheme or "sms", "line": line_key}
    if opt_out:
        attributes["opt_out_type"] = opt_out
    for source_key, name in (("NumMedia", "num_media"), ("NumSegments", "num_segments")):
        value = _text(params, source_key)
        if value is not None and value.isdigit():
            attributes[name] = int(value)
    service = _text(params, "MessagingServiceSid")
    if service is not None:
        attributes["messaging_service_sid"] = service

    return build_event(
        event_id=event_id(config.id_prefix, message_sid),
        occurred_at=occurred_at,
        channel=config.whatsapp_channel if scheme == "whatsapp" else config.sms_channel,
        touchpoint=touchpoint,
        identifiers=[identifier("phone", phone, False)],
        outcome=touch.outcome if touch else None,
        session_id=message_sid,
        source=config.source,
        attributes=attributes,
    )


def twilio_event(
    params: Mapping[str, str],
    *,
    received_at: datetime,
    config: TwilioConfig = DEFAULT_TWILIO_CONFIG,
) -> Event:
    """The event of a Twilio webhook, voice or messaging (told apart by CallSid/MessageSid)."""
    if _text(params, "CallSid"):
        return twilio_voice_event(params, received_at=received_at, config=config)
    if _text(params, "MessageSid") or _text(params, "SmsSid"):
        return twilio_sms_event(params, received_at=received_at, config=config)
    raise AdapterError(
        MISSING_FIELD, "neither CallSid nor MessageSid is set: not a Twilio voice or "
        "messaging webhook", "CallSid",
    )


def _sid(params: Any) -> str | None:
    if not isinstance(params, Mapping):
        return None
    for key in ("CallSid", "MessageSid", "SmsSid"):
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def twilio_adapter(config: TwilioConfig = DEFAULT_TWILIO_CONFIG) -> Adapter:
    """The uniform entry point for Twilio's form-encoded webhooks."""

    def adapt(body: bytes, headers: Mapping[str, str], received_at: datetime) -> AdapterResult:
        require_aware(received_at)
        try:
            params = parse_form(body)
        except AdapterError as error:
            return AdapterResult.failed(error)
        return collect(
            [params],
            lambda item: twilio_event(item, received_at=received_at, config=config),
            _sid,
        )

    return adapt
