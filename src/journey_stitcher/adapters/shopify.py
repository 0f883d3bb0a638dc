"""Orders online and in store: Shopify order webhooks → interaction events.

The body is the order (REST representation); the topic comes from the ``X-Shopify-Topic``
header: ``orders/create`` → purchase completed, ``orders/paid`` → pay completed,
``orders/fulfilled`` → ``delivery`` on the courier channel, or ``pickup`` in store.

Decisions (see docs/channels.md):

* Channel from ``source_name``: ``web`` → web, ``pos`` → store, ``iphone``/``android`` → app,
  ``shopify_draft_order`` → web (a draft order is paid through its online invoice); anything
  else (an app's id, ``buy_button``...) → ``default_channel``. Configurable.
* ``customer.id`` → verified ``customer_id`` as ``shopify:<id>`` (``customer_id_prefix``; set it
  to ``""`` when Shopify ids are your CRM ids, or None to leave it out). The e-mail is verified
  only when Shopify says the customer verified it (``customer.verified_email``) and it is the
  customer's own; phones (order, customer, billing address) are typed in: unverified.
* ``id`` → owned ref ``order_id`` (``order_ref`` can pick ``order_number`` or ``name``
  instead, to match what couriers scan); ``cart_token`` → ``cart_id`` (joins the web cart's
  journey); first line item ``product_id`` → ``product_id``.
* Event id ``shopify:<order id>:<topic>``: each topic happens once per order, so a webhook
  Shopify retries, or one delivered to two subscriptions, dedupes downstream.
* Time: orders/create → ``processed_at`` (when the sale happened; it differs from
  ``created_at`` for imported and offline POS orders), orders/paid → ``updated_at``,
  orders/fulfilled → the latest fulfillment's ``created_at``; each falls back on the others.
* orders/fulfilled: a fulfillment whose shipping line is a pickup (``pickup_keywords``) is a
  ``pickup`` completed in store; a POS sale with no shipping line was handed over at the
  counter — the purchase already recorded it: skipped; otherwise ``delivery`` on the courier
  channel, completed when the shipment status is ``delivered``, else started.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from journey_stitcher.adapters.base import (
    Adapter,
    AdapterResult,
    Event,
    Touch,
    build_event,
    collect,
    event_id,
    header,
    identifier,
    load_json,
    opt_text,
    parse_iso_datetime,
    require_aware,
    scalar,
)
from journey_stitcher.adapters.errors import (
    INVALID_PAYLOAD,
    INVALID_TIMESTAMP,
    MISSING_FIELD,
    MISSING_HEADER,
    NOT_A_TOUCHPOINT,
    UNSUPPORTED_TOPIC,
    AdapterError,
    Skip,
)

__all__ = [
    "DEFAULT_SHOPIFY_CONFIG",
    "DEFAULT_SOURCE_CHANNELS",
    "FULFILLED",
    "TOPIC_HEADER",
    "ShopifyConfig",
    "shopify_adapter",
    "shopify_event",
]

TOPIC_HEADER = "X-Shopify-Topic"
FULFILLED = "orders/fulfilled"

DEFAULT_TOPICS: Mapping[str, Touch] = MappingProxyType({
    "orders/create": Touch("purchase", "completed"),
    "orders/paid": Touch("pay", "completed"),
})
"""Topic → touchpoint (orders/fulfilled is decided per order: delivery or pickup)."""

DEFAULT_SOURCE_CHANNELS: Mapping[str, str] = MappingProxyType({
    "web": "web",
    "pos": "store",
    "shopify_draft_order": "web",
    "iphone": "app",
    "android": "app",
})

_TIME_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "orders/create": ("processed_at", "created_at", "updated_at"),
    "orders/paid": ("updated_at", "processed_at", "created_at"),
    FULFILLED: ("updated_at", "processed_at", "created_at"),
})


@dataclass(frozen=True)
class ShopifyConfig:
    """How Shopify order webhooks map to the catalog; ``DEFAULT_SHOPIFY_CONFIG`` is the default."""

    topics: Mapping[str, Touch] = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    handle_fulfilled: bool = True
    source_channels: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_SOURCE_CHANNELS)
    )
    default_channel: str = "web"
    delivery_channel: str = "courier"
    pickup_channel: str = "store"
    pickup_keywords: Sequence[str] = ("pickup", "pick-up", "pick up", "collect", "ritiro")
    """A shipping line whose code, title, source or delivery_category contains one is a pickup."""
    customer_id_prefix: str | None = "shopify:"
    order_ref: Literal["id", "order_number", "name"] = "id"
    source: str = "shopify"
    id_prefix: str = "shopify"


DEFAULT_SHOPIFY_CONFIG = ShopifyConfig()


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _time(order: Mapping[str, Any], names: Sequence[str]) -> datetime:
    errors: list[AdapterError] = []
    for name in names:
        value = order.get(name)
        if value is None or value == "":
            continue
        try:
            return parse_iso_datetime(value, name, naive_tz=None)
        except AdapterError as error:
            errors.append(error)
    if errors:
        raise errors[0]
    raise AdapterError(
        INVALID_TIMESTAMP, f"none of {', '.join(names)} is set", names[0]
    )


def _is_pickup(order: Mapping[str, Any], config: ShopifyConfig) -> bool:
    lines = order.get("shipping_lines")
    if not isinstance(lines, list):
        return False
    for line in lines:
        if not isinstance(line, Mapping):
            continue
        text = " ".join(
            str(line.get(key) or "") for key in ("code", "title", "source", "delivery_category")
        ).casefold()
        if any(keyword in text for keyword in config.pickup_keywords):
            return True
    return False


def _latest_fulfillment(order: Mapping[str, Any]) -> Mapping[str, Any]:
    fulfillments = order.get("fulfillments")
    if not isinstance(fulfillments, list):
        return {}
    candidates = [f for f in fulfillments if isinstance(f, Mapping)]
    return candidates[-1] if candidates else {}


def _identifiers(order: Mapping[str, Any], config: ShopifyConfig) -> list[dict[str, Any]]:
    customer = _obj(order.get("customer"))
    identifiers: list[dict[str, Any]] = []
    customer_id = opt_text(customer, "id", "customer.id")
    if customer_id is not None and config.customer_id_prefix is not None:
        identifiers.append(
            identifier("customer_id", f"{config.customer_id_prefix}{customer_id}", True)
        )
    customer_email = opt_text(customer, "email", "customer.email")
    verified_email = (customer_email.casefold()
                      if customer_email and customer.get("verified_email") is True else None)
    seen: set[str] = set()
    for email in (opt_text(order, "email"), opt_text(order, "contact_email"), customer_email):
        if email is not None and email.casefold() not in seen:
            seen.add(email.casefold())
            identifiers.append(identifier("email", email, email.casefold() == verified_email))
    billing = _obj(order.get("billing_address"))
    for phone in (opt_text(order, "phone"), opt_text(customer, "phone", "customer.phone"),
                  opt_text(billing, "phone", "billing_address.phone")):
        if phone is not None:
            identifiers.append(identifier("phone", phone, False))
    return identifiers


def _refs(order: Mapping[str, Any], config: ShopifyConfig) -> dict[str, str]:
    refs: dict[str, str] = {}
    order_ref = opt_text(order, config.order_ref)
    if order_ref is None:
        raise AdapterError(MISSING_FIELD, f"{config.order_ref} (the order) is missing",
                           config.order_ref)
    refs["order_id"] = order_ref
    cart = opt_text(order, "cart_token")
    if cart is not None:
        refs["cart_id"] = cart
    items = order.get("line_items")
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                product = opt_text(item, "product_id", f"line_items[{index}].product_id")
                if product is not None:
                    refs["product_id"] = product
                    break
    return refs


def shopify_event(
    order: Mapping[str, Any],
    *,
    topic: str,
    config: ShopifyConfig = DEFAULT_SHOPIFY_CONFIG,
) -> Event:
    """The interaction event of one order webhook of ``topic`` (the X-Shopify-Topic header)."""
    if not isinstance(order, Mapping):
        raise AdapterError(
            INVALID_PAYLOAD, f"a Shopify order must be a JSON object, got {type(order).__name__}"
        )
    topic = topic.strip().casefold()
    order_id = opt_text(order, "id")
    if order_id is None:
        raise AdapterError(MISSING_FIELD, "id (the order id) is missing", "id")
    refs = _refs(order, config)
    identifiers = _identifiers(order, config)
    source_name = opt_text(order, "source_name")
    channel = config.source_channels.get(source_name or "", config.default_channel)

    attributes: dict[str, Any] = {"shopify_topic": topic, "source_name": source_name}
    for key in ("order_number", "name", "financial_status", "fulfillment_status",
                "total_price", "currency", "location_id"):
        value = scalar(order.get(key))
        if value is not None:
            attributes[key] = value
    if order.get("test") is True:
        attributes["test"] = True

    if topic == FULFILLED and config.handle_fulfilled:
        fulfillment = _latest_fulfillment(order)
        delivered = str(fulfillment.get("shipment_status") or "").casefold() == "delivered"
        for key in ("tracking_company", "tracking_number"):
            value = fulfillment.get(key)
            if isinstance(value, str) and value:
                attributes[key] = value
        if _is_pickup(order, config):
            channel, touch = config.pickup_channel, Touch("pickup", "completed")
        elif source_name == "pos" and not order.get("shipping_lines"):
            raise Skip(
                NOT_A_TOUCHPOINT,
                "a point-of-sale order fulfilled at the counter: the purchase event already "
                "records the hand-over",
                "source_name",
            )
        else:
            channel = config.delivery_channel
            touch = Touch("delivery", "completed" if delivered else "started")
        # A delivered shipment was last updated on delivery; otherwise the fulfillment's
        # creation is the hand-over (to the courier, or to the customer at the pickup desk).
        own = ("updated_at", "created_at") if delivered else ("created_at", "updated_at")
        if any(fulfillment.get(name) for name in own):
            occurred_at = _time(fulfillment, own)
        else:
            occurred_at = _time(order, _TIME_FIELDS[FULFILLED])
    else:
        mapped = config.topics.get(topic)
        if mapped is None:
            raise Skip(UNSUPPORTED_TOPIC, f"topic {topic!r} is not mapped to a touchpoint",
                       TOPIC_HEADER)
        touch = mapped
        occurred_at = _time(order, _TIME_FIELDS.get(topic, _TIME_FIELDS["orders/paid"]))

    return build_event(
        event_id=event_id(config.id_prefix, order_id, topic),
        occurred_at=occurred_at,
        channel=channel,
        touchpoint=touch.touchpoint,
        identifiers=identifiers,
        refs=refs,
        outcome=touch.outcome,
        source=config.source,
        attributes=attributes,
    )


def _order_id(item: Any) -> str | None:
    return opt_text(item, "id") if isinstance(item, Mapping) else None


def shopify_adapter(config: ShopifyConfig = DEFAULT_SHOPIFY_CONFIG) -> Adapter:
    """The uniform entry point for Shopify order webhooks (topic from ``X-Shopify-Topic``)."""

    def adapt(body: bytes, headers: Mapping[str, str], received_at: datetime) -> AdapterResult:
        require_aware(received_at)
        topic = header(headers, TOPIC_HEADER)
        if not topic or not topic.strip():
            return AdapterResult.failed(AdapterError(
                MISSING_HEADER, f"the {TOPIC_HEADER} header is missing: which event is this?",
                TOPIC_HEADER,
            ))
        try:
            documents = load_json(body)
        except AdapterError as error:
            return AdapterResult.failed(error)
        items: list[Any] = []
        for document in documents:  # a JSON Lines export holds one order per line
            if isinstance(document, list):
                items.extend(document)
            else:
                items.append(document)
        return collect(items, lambda item: shopify_event(item, topic=topic, config=config),
                       _order_id)

    return adapt
