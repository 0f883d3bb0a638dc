"""E-mail: SendGrid Event Webhook → interaction events.

SendGrid posts a JSON array of event objects; some documented examples are a bare object, and
exports are JSON Lines: all three are accepted. Real-traffic quirks handled: ``"event":
"Processed"`` capitalised, ``timestamp`` as a string or in milliseconds, ``category`` a string
or an array, no ``sg_event_id`` on legacy events.

Decisions (see docs/channels.md):

* The recipient (``email``) is a verified ``email``: the company sent to it and SendGrid
  delivered to it.
* Engagement events are touchpoints: open and click → ``inform`` (the customer reads about an
  offer or an order), unsubscribe, group_unsubscribe, group_resubscribe and spamreport →
  ``feedback``. Configurable.
* Delivery events (processed, deferred, delivered, bounce, dropped) are reports on a message the
  company sent, not a customer action: skipped (``not_a_touchpoint``). Unknown event names are
  skipped too (``unmapped_event``): SendGrid adds events, that is not an error.
* Opens fired by a privacy proxy (``sg_machine_open: true``, Apple Mail Privacy Protection) are
  not the customer: skipped (``machine_open``).
* ``sg_event_id`` → ``sendgrid:<sg_event_id>``; without one, a stable hash of the object.
  ``sg_message_id`` → ``session_id`` (an open and a click of one e-mail share it).
* Custom arguments (top-level keys the sender attached) can carry refs (``order_id``...) and a
  ``customer_id``; a clicked URL is kept without its query string (tokens, personal data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from journey_stitcher.adapters.base import (
    Adapter,
    AdapterResult,
    Event,
    Touch,
    build_event,
    collect,
    epoch_datetime,
    event_id,
    hashed_event_id,
    identifier,
    load_json,
    opt_text,
    require_aware,
    scalar,
)
from journey_stitcher.adapters.errors import (
    INVALID_FIELD,
    INVALID_PAYLOAD,
    INVALID_TIMESTAMP,
    MACHINE_OPEN,
    MISSING_FIELD,
    NO_IDENTITY,
    NOT_A_TOUCHPOINT,
    UNMAPPED_EVENT,
    AdapterError,
    Skip,
)

__all__ = [
    "DEFAULT_SENDGRID_CONFIG",
    "DEFAULT_SENDGRID_EVENTS",
    "DELIVERY_EVENTS",
    "SendGridConfig",
    "sendgrid_adapter",
    "sendgrid_batch",
    "sendgrid_event",
]

DEFAULT_SENDGRID_EVENTS: Mapping[str, Touch] = MappingProxyType({
    "open": Touch("inform"),
    "click": Touch("inform"),
    "unsubscribe": Touch("feedback"),
    "group_unsubscribe": Touch("feedback"),
    "group_resubscribe": Touch("feedback"),
    "spamreport": Touch("feedback"),
})
"""Engagement event → touchpoint."""

DELIVERY_EVENTS = frozenset({"processed", "deferred", "delivered", "bounce", "dropped"})

DEFAULT_REF_ARGS: Mapping[str, str] = MappingProxyType({
    "order_id": "order_id",
    "cart_id": "cart_id",
    "case_id": "case_id",
    "appointment_id": "appointment_id",
})
"""Custom argument (top-level key) → ref name."""


@dataclass(frozen=True)
class SendGridConfig:
    """How SendGrid events map to the catalog; ``DEFAULT_SENDGRID_CONFIG`` is the default."""

    events: Mapping[str, Touch] = field(default_factory=lambda: dict(DEFAULT_SENDGRID_EVENTS))
    """Event name (lower case) → touchpoint; a delivery event listed here is mapped too."""
    skip_machine_opens: bool = True
    ref_args: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_REF_ARGS))
    customer_id_arg: str | None = "customer_id"
    """Custom argument carrying the company's customer id (set server-side: verified)."""
    channel: str = "email"
    source: str = "sendgrid"
    id_prefix: str = "sendgrid"


DEFAULT_SENDGRID_CONFIG = SendGridConfig()


def _categories(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value] if value else None
    if isinstance(value, list):
        names = [item for item in value if isinstance(item, str) and item]
        return names or None
    return None


def _url_without_query(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def sendgrid_event(
    item: Mapping[str, Any],
    *,
    config: SendGridConfig = DEFAULT_SENDGRID_CONFIG,
) -> Event:
    """The interaction event of one SendGrid event object.

    Raises :class:`AdapterError` for a broken object and :class:`Skip` for a delivery report,
    a machine open or an unmapped event.
    """
    if not isinstance(item, Mapping):
        raise AdapterError(
            INVALID_PAYLOAD, f"a SendGrid event must be a JSON object, got {type(item).__name__}"
        )
    raw_name = item.get("event")
    if raw_name is None or raw_name == "":
        raise AdapterError(MISSING_FIELD, "event is missing", "event")
    if not isinstance(raw_name, str):
        raise AdapterError(INVALID_FIELD, "event must be a string", "event")
    name = raw_name.strip().casefold()

    email = opt_text(item, "email")
    if email is None:
        raise AdapterError(NO_IDENTITY, "email (the recipient) is missing", "email")
    if "timestamp" not in item:
        raise AdapterError(INVALID_TIMESTAMP, "timestamp is missing", "timestamp")
    occurred_at = epoch_datetime(item["timestamp"], "timestamp")

    touch = config.events.get(name)
    if touch is None:
        if name in DELIVERY_EVENTS:
            raise Skip(
                NOT_A_TOUCHPOINT,
                f"{name!r} reports the delivery of a message the company sent; "
                "it is not a customer touchpoint",
                "event",
            )
        raise Skip(UNMAPPED_EVENT, f"event {raw_name!r} is not mapped to a touchpoint", "event")
    if name == "open" and config.skip_machine_opens and item.get("sg_machine_open") is True:
        raise Skip(
            MACHINE_OPEN,
            "sg_machine_open: the open was fired by a privacy proxy, not by the recipient",
            "sg_machine_open",
        )

    identifiers = [identifier("email", email, True)]
    if config.customer_id_arg:
        customer_id = opt_text(item, config.customer_id_arg)
        if customer_id is not None:
            identifiers.insert(0, identifier("customer_id", customer_id, True))
    refs: dict[str, str] = {}
    for arg, ref in config.ref_args.items():
        value = opt_text(item, arg)
        if value is not None:
            refs[ref] = value

    sg_event_id = opt_text(item, "sg_event_id")
    eid = (event_id(config.id_prefix, sg_event_id) if sg_event_id is not None
           else hashed_event_id(config.id_prefix, item))
    message_id = opt_text(item, "sg_message_id")

    attributes: dict[str, Any] = {"sendgrid_event": name, "categories": _categories(
        item.get("category"))}
    if name == "click":
        attributes["url"] = _url_without_query(item.get("url"))
    for key in ("asm_group_id", "marketing_campaign_id", "marketing_campaign_name",
                "singlesend_id", "singlesend_name", "sg_template_id"):
        extra = scalar(item.get(key))
        if extra is not None:
            attributes[key] = extra
    newsletter = item.get("newsletter")
    if isinstance(newsletter, Mapping):
        newsletter_id = opt_text(newsletter, "newsletter_id", "newsletter.newsletter_id")
        if newsletter_id is not None:
            attributes["newsletter_id"] = newsletter_id

    return build_event(
        event_id=eid,
        occurred_at=occurred_at,
        channel=config.channel,
        touchpoint=touch.touchpoint,
        identifiers=identifiers,
        refs=refs,
        outcome=touch.outcome,
        session_id=message_id,
        source=config.source,
        attributes=attributes,
    )


def _event_key(item: Any) -> str | None:
    return opt_text(item, "sg_event_id") if isinstance(item, Mapping) else None


def sendgrid_batch(
    documents: Sequence[Any],
    *,
    config: SendGridConfig = DEFAULT_SENDGRID_CONFIG,
) -> AdapterResult:
    """Every event of parsed JSON ``documents`` (each an array of events or one event)."""
    items: list[Any] = []
    for document in documents:
        if isinstance(document, list):
            items.extend(document)
        else:
            items.append(document)
    return collect(items, lambda item: sendgrid_event(item, config=config), _event_key)


def sendgrid_adapter(config: SendGridConfig = DEFAULT_SENDGRID_CONFIG) -> Adapter:
    """The uniform entry point for SendGrid Event Webhook posts."""

    def adapt(body: bytes, headers: Mapping[str, str], received_at: datetime) -> AdapterResult:
        require_aware(received_at)
        try:
            documents = load_json(body)
        except AdapterError as error:
            return AdapterResult.failed(error)
        return sendgrid_batch(documents, config=config)

    return adapt
