"""Web and app: Segment calls (track, page, screen, identify) → interaction events.

Accepts what Segment documents and what its libraries really send: a single call, a JSON array of
calls, JSON Lines, and the HTTP API ``/v1/batch`` envelope whose batch-level ``context`` (and
``sentAt``) apply to every item; the legacy ``action`` field instead of ``type``; bodies of the
HTTP API endpoints without ``type`` (the endpoint tells it: pass ``call_type``).

Decisions (see docs/channels.md):

* ``userId`` → ``customer_id``, verified (the site sets it after a login). ``anonymousId`` →
  ``cookie_id`` on the web, ``device_id`` in an app unless ``context.device.id`` is there, which
  is preferred. A call with neither is rejected (``no_identity``), as Segment itself does.
* E-mail and phone come from ``traits`` on identify and ``context.traits`` on other calls. They
  are verified only on an identify that carries a ``userId`` (the traits of an account the site
  authenticated; ``trust_identify_traits`` turns this off); cached ``context.traits`` and
  anonymous identify calls are unverified.
* Event time: ``timestamp``, else ``originalTimestamp``, ``sentAt``, ``receivedAt`` (the first
  one that parses). With none of them present, the receipt time (what Segment itself does). With
  only malformed ones (``2015-2-02T00:30:08.276Z``), the call is rejected: guessing would hide a
  broken client clock.
* Every call is validated before the touchpoint mapping is looked up, so a skipped call
  (``unmapped_event``) is a valid call the mapping does not cover, never a broken one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from journey_stitcher.adapters.base import (
    Adapter,
    AdapterResult,
    Event,
    Touch,
    build_event,
    collect,
    event_id,
    hashed_event_id,
    identifier,
    load_json,
    opt_text,
    parse_iso_datetime,
    require_aware,
)
from journey_stitcher.adapters.errors import (
    INVALID_FIELD,
    INVALID_PAYLOAD,
    INVALID_TIMESTAMP,
    MISSING_FIELD,
    NO_IDENTITY,
    UNMAPPED_EVENT,
    UNSUPPORTED_CALL,
    AdapterError,
    Skip,
)

__all__ = [
    "CALL_TYPES",
    "DEFAULT_SEGMENT_CONFIG",
    "DEFAULT_SEGMENT_EVENTS",
    "SegmentConfig",
    "segment_adapter",
    "segment_batch",
    "segment_event",
]

CALL_TYPES = frozenset({"track", "page", "screen", "identify"})
_NOT_TOUCHPOINTS = frozenset({"group", "alias"})

DEFAULT_SEGMENT_EVENTS: Mapping[str, Touch] = MappingProxyType({
    # E-commerce spec v2: browsing.
    "Products Searched": Touch("discover"),
    "Promotion Viewed": Touch("discover"),
    "Promotion Clicked": Touch("discover"),
    "Product List Viewed": Touch("compare"),
    "Product List Filtered": Touch("compare"),
    "Product Added to Wishlist": Touch("compare"),
    "Product Clicked": Touch("inform"),
    "Product Viewed": Touch("inform"),
    # Ordering: the purchase goal is under way until the order completes.
    "Product Added": Touch("purchase", "started"),
    "Product Removed": Touch("purchase", "started"),
    "Cart Viewed": Touch("purchase", "started"),
    "Checkout Started": Touch("purchase", "started"),
    "Checkout Step Viewed": Touch("purchase", "started"),
    "Checkout Step Completed": Touch("purchase", "started"),
    "Payment Info Entered": Touch("pay", "started"),
    "Order Completed": Touch("purchase", "completed"),
    "Order Cancelled": Touch("purchase", "abandoned"),
    # After the purchase.
    "Order Returned": Touch("return", "started"),
    "Order Refunded": Touch("return", "completed"),
    "Product Reviewed": Touch("feedback"),
    # E-commerce spec v1 names still sent by older integrations.
    "Viewed Product Category": Touch("compare"),
    "Viewed Product": Touch("inform"),
    "Added Product": Touch("purchase", "started"),
    "Removed Product": Touch("purchase", "started"),
    "Viewed Checkout Step": Touch("purchase", "started"),
    "Completed Checkout Step": Touch("purchase", "started"),
    "Completed Order": Touch("purchase", "completed"),
})
"""Segment e-commerce event names → touchpoints (matched ignoring case, ``_`` and ``-``)."""

DEFAULT_REF_PROPERTIES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "order_id": ("order_id", "orderId"),
    "cart_id": ("cart_id", "cartId"),
    "checkout_id": ("checkout_id", "checkoutId"),
    "product_id": ("product_id", "productId"),
})
"""Ref name → the ``properties`` keys it is read from, first found wins."""


_INFORM = Touch("inform")


def _normalize_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


@dataclass(frozen=True)
class SegmentConfig:
    """How Segment calls map to the catalog; ``DEFAULT_SEGMENT_CONFIG`` is the default."""

    events: Mapping[str, Touch] = field(default_factory=lambda: dict(DEFAULT_SEGMENT_EVENTS))
    """Track event name → touchpoint."""
    page: Touch | None = _INFORM
    """Touchpoint of a page call; None skips page calls."""
    screen: Touch | None = _INFORM
    """Touchpoint of a screen call; None skips screen calls."""
    unmapped: Touch | None = None
    """Touchpoint of a track event absent from ``events``; None skips it (``unmapped_event``)."""
    web_channel: str = "web"
    app_channel: str = "app"
    trust_identify_traits: bool = True
    """Identify calls with a userId vouch for the e-mail and phone in their traits."""
    ref_properties: Mapping[str, Sequence[str]] = field(
        default_factory=lambda: dict(DEFAULT_REF_PROPERTIES)
    )
    source: str = "segment"
    id_prefix: str = "segment"
    _index: dict[str, Touch] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {_normalize_name(name): touch for name, touch in self.events.items()}
        object.__setattr__(self, "_index", index)

    def touch_for(self, event_name: str) -> Touch | None:
        """The touchpoint of track event ``event_name``, or ``unmapped``."""
        return self._index.get(_normalize_name(event_name), self.unmapped)


DEFAULT_SEGMENT_CONFIG = SegmentConfig()

# --- channel and device --------------------------------------------------------------------------

_MOBILE_OS = ("ios", "iphone os", "ipados", "android", "watchos", "tvos", "wear os")
_MOBILE_LIBRARIES = (
    "analytics-ios", "analytics-android", "analytics-swift", "analytics-kotlin",
    "analytics-react-native", "analytics-flutter", "analytics-xamarin", "analytics-unity",
)
_PHONE_TYPES = frozenset({"ios", "android", "phone", "mobile", "iphone", "smartphone"})
_WATCH_TYPES = frozenset({"watch", "watchos", "wearos", "smartwatch"})
_TV_TYPES = frozenset({"tv", "tvos", "androidtv", "appletv"})
_DESKTOP_TYPES = frozenset({"desktop", "macos", "mac", "windows", "linux", "pc", "laptop"})


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_app(message: Mapping[str, Any], context: Mapping[str, Any], call_type: str) -> bool:
    """True when the call comes from a mobile app rather than a browser or a server."""
    channel = message.get("channel")
    if channel == "mobile":
        return True
    if channel == "browser":
        return False
    if call_type == "screen" or _obj(context.get("app")):
        return True
    device_type = str(_obj(context.get("device")).get("type") or "").casefold()
    os_name = str(_obj(context.get("os")).get("name") or "").casefold()
    library = str(_obj(context.get("library")).get("name") or "").casefold()
    return (
        device_type in _PHONE_TYPES
        or device_type == "tablet"
        or os_name.startswith(_MOBILE_OS)
        or library.startswith(_MOBILE_LIBRARIES)
    )


def _device_type(device: Mapping[str, Any], context: Mapping[str, Any]) -> str | None:
    raw = str(device.get("type") or "").strip().casefold()
    model = str(device.get("model") or "").casefold()
    if "ipad" in model or raw == "tablet":
        return "tablet"
    if raw in _PHONE_TYPES:
        return "smartphone"
    if raw in _WATCH_TYPES:
        return "smartwatch"
    if raw in _TV_TYPES:
        return "tv"
    if raw in _DESKTOP_TYPES:
        return "desktop"
    if raw:
        return raw
    if _obj(context.get("userAgentData")).get("mobile") is True:
        return "smartphone"
    agent = context.get("userAgent")
    if not isinstance(agent, str) or not agent:
        return None
    if re.search(r"ipad|tablet", agent, re.IGNORECASE):
        return "tablet"
    if re.search(r"mobi|iphone|android", agent, re.IGNORECASE):
        return "smartphone"
    return "desktop"


# --- one call ----------------------------------------------------------------------------------

_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


def _occurred_at(message: Mapping[str, Any], received_at: datetime) -> tuple[datetime, str]:
    """The event time and the field it came from (``received_at`` when none was sent)."""
    errors: list[AdapterError] = []
    for name in _TIME_FIELDS:
        value = message.get(name)
        if value is None or value == "":
            continue
        try:
            return parse_iso_datetime(value, name), name
        except AdapterError as error:
            errors.append(error)
    if not errors:
        return received_at, "received_at"
    first = errors[0]
    others = [n for n in _TIME_FIELDS if n != first.field]
    raise AdapterError(
        INVALID_TIMESTAMP,
        f"{first.message}, and no valid {', '.join(others)} to fall back on",
        first.field,
    )


def _call_type(message: Mapping[str, Any], hint: str | None) -> str:
    declared = message.get("type")
    name = "type"
    if declared is None:
        declared, name = message.get("action"), "action"
    if declared is None:
        if hint is None:
            raise AdapterError(
                MISSING_FIELD,
                "type is missing (and no legacy action): post the call to the endpoint of "
                "its type (segment.track, segment.page, ...) or set type",
                "type",
            )
        return hint
    if not isinstance(declared, str):
        raise AdapterError(INVALID_FIELD, f"{name} must be a string", name)
    call_type = declared.strip().casefold()
    if hint is not None and call_type != hint:
        raise AdapterError(
            INVALID_FIELD, f"{name} {declared!r} contradicts the {hint} endpoint", name
        )
    if call_type in _NOT_TOUCHPOINTS:
        raise Skip(UNSUPPORTED_CALL, f"a {call_type} call is not a touchpoint", name)
    if call_type not in CALL_TYPES:
        raise AdapterError(
            INVALID_FIELD,
            f"{name} {declared!r} is not a Segment call type (track, page, screen, identify)",
            name,
        )
    return call_type


def _mapping(message: Mapping[str, Any], key: str, where: str | None = None) -> Mapping[str, Any]:
    value = message.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        name = where or key
        raise AdapterError(
            INVALID_FIELD, f"{name} must be an object, got {type(value).__name__}", name
        )
    return value


def _trait(traits: Mapping[str, Any], key: str) -> str | None:
    """A contact trait; traits are free-form user data, so a non-string value is ignored."""
    value = traits.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _refs(properties: Mapping[str, Any], config: SegmentConfig) -> dict[str, str]:
    refs: dict[str, str] = {}
    for ref, keys in config.ref_properties.items():
        for key in keys:
            value = opt_text(properties, key, f"properties.{key}")
            if value is not None:
                refs[ref] = value
                break
    if "product_id" not in refs:
        products = properties.get("products")
        if isinstance(products, list) and products and isinstance(products[0], Mapping):
            first = products[0]
            value = opt_text(first, "product_id", "properties.products[0].product_id")
            if value is None:  # e-commerce spec v1
                value = opt_text(first, "id", "properties.products[0].id")
            if value is not None:
                refs["product_id"] = value
    return refs


def segment_event(
    message: Mapping[str, Any],
    *,
    received_at: datetime,
    config: SegmentConfig = DEFAULT_SEGMENT_CONFIG,
    call_type: str | None = None,
) -> Event:
    """The interaction event of one Segment call.

    ``call_type`` is the type the endpoint implies (the HTTP API's ``/v1/track`` body has no
    ``type``). Raises :class:`AdapterError` for a broken call and :class:`Skip` for a valid call
    that is not a touchpoint (group, alias, an unmapped track event).
    """
    if not isinstance(message, Mapping):
        raise AdapterError(
            INVALID_PAYLOAD, f"a Segment call must be a JSON object, got {type(message).__name__}"
        )
    kind = _call_type(message, call_type)

    user_id = opt_text(message, "userId")
    anonymous_id = opt_text(message, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise AdapterError(
            NO_IDENTITY, "neither userId nor anonymousId is set (Segment requires one)", "userId"
        )
    occurred_at, time_field = _occurred_at(message, received_at)

    context = _mapping(message, "context")
    properties = _mapping(message, "properties")
    device_info = _mapping(context, "device", "context.device")
    app = _is_app(message, context, kind)
    device_id = opt_text(device_info, "id", "context.device.id")

    identifiers = []
    if user_id is not None:
        identifiers.append(identifier("customer_id", user_id, True))
    device_key = device_id or anonymous_id
    if app:
        if device_key is not None:
            identifiers.append(identifier("device_id", device_key, False))
    elif anonymous_id is not None:
        identifiers.append(identifier("cookie_id", anonymous_id, False))

    if kind == "identify":
        traits = _mapping(message, "traits")
        traits_verified = user_id is not None and config.trust_identify_traits
    else:
        traits = _mapping(context, "traits", "context.traits")
        traits_verified = False
    for trait, type_ in (("email", "email"), ("phone", "phone")):
        value = _trait(traits, trait)
        if value is not None:
            identifiers.append(identifier(type_, value, traits_verified))

    device: dict[str, str] | None = None
    if device_key is not None:
        device = {"id": device_key}
        device_type = _device_type(device_info, context)
        if device_type:
            device["type"] = device_type

    attributes: dict[str, Any] = {"segment_type": kind}
    name: str | None = None
    if kind == "track":
        name = opt_text(message, "event")
        if name is None:
            raise AdapterError(MISSING_FIELD, "event is missing on a track call", "event")
        attributes["event"] = name
    else:
        label = message.get("name")
        if isinstance(label, str) and label:
            attributes["name"] = label
    page_url = _obj(context.get("page")).get("url")
    if not page_url and kind == "page":
        page_url = properties.get("url")
    if isinstance(page_url, str) and page_url:
        attributes["url"] = page_url
    if time_field != "timestamp":
        attributes["time_source"] = time_field

    refs = _refs(properties, config)

    touch: Touch | None
    if kind == "identify":
        touch = Touch("identify")
    elif kind == "page":
        touch = config.page
    elif kind == "screen":
        touch = config.screen
    else:
        touch = config.touch_for(name or "")
    if touch is None:
        what = f"track event {name!r}" if kind == "track" else f"{kind} call"
        raise Skip(UNMAPPED_EVENT, f"{what} is not mapped to a touchpoint", "event")

    message_id = opt_text(message, "messageId")
    if message_id is not None:
        eid = event_id(config.id_prefix, message_id)
    else:
        # No messageId (HTTP API examples, hand-made calls): hash the call itself, with the
        # type the endpoint gave it (a page and a screen body can be byte for byte the same).
        content = {k: v for k, v in message.items() if k not in ("writeKey", "action")}
        content["type"] = kind
        eid = hashed_event_id(config.id_prefix, content)

    return build_event(
        event_id=eid,
        occurred_at=occurred_at,
        channel=config.app_channel if app else config.web_channel,
        touchpoint=touch.touchpoint,
        identifiers=identifiers,
        refs=refs,
        outcome=touch.outcome,
        device=device,
        source=config.source,
        attributes=attributes,
    )


# --- batches -------------------------------------------------------------------------------------


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _expand(document: Any, hint: str | None) -> list[Any]:
    """The calls of one JSON document: a call, an array of calls or a /v1/batch envelope."""
    if isinstance(document, list):
        return list(document)
    if not isinstance(document, Mapping):
        return [AdapterError(
            INVALID_PAYLOAD,
            f"a Segment body must be a JSON object or array, got {type(document).__name__}",
        )]
    if "batch" not in document:
        if hint == "batch":
            return [AdapterError(MISSING_FIELD, "a /v1/batch body needs a batch array", "batch")]
        return [document]
    batch = document["batch"]
    if not isinstance(batch, list):
        return [AdapterError(INVALID_PAYLOAD, "batch must be an array", "batch")]
    shared_context = document.get("context")
    shared_sent_at = document.get("sentAt")
    items: list[Any] = []
    for item in batch:
        if isinstance(item, Mapping):
            merged = dict(item)
            if isinstance(shared_context, Mapping):
                own = item.get("context")
                merged["context"] = _deep_merge(
                    shared_context, own if isinstance(own, Mapping) else {}
                )
            if shared_sent_at is not None and merged.get("sentAt") in (None, ""):
                merged["sentAt"] = shared_sent_at
            items.append(merged)
        else:
            items.append(item)
    return items


def _message_id(item: Any) -> str | None:
    return opt_text(item, "messageId") if isinstance(item, Mapping) else None


def segment_batch(
    documents: Sequence[Any],
    *,
    received_at: datetime,
    config: SegmentConfig = DEFAULT_SEGMENT_CONFIG,
    call_type: str | None = None,
) -> AdapterResult:
    """Every call of parsed JSON ``documents`` (each a call, an array or a batch envelope).

    ``call_type`` is the endpoint the body was posted to: ``track``, ``page``, ``screen``,
    ``identify``, ``batch`` or None (the calls say their own type).
    """
    require_aware(received_at)
    item_hint = call_type if call_type in CALL_TYPES else None
    items: list[Any] = []
    for document in documents:
        if isinstance(document, AdapterError):
            items.append(document)
        else:
            items.extend(_expand(document, call_type))
    return collect(
        items,
        lambda item: segment_event(
            item, received_at=received_at, config=config, call_type=item_hint
        ),
        _message_id,
    )


def segment_adapter(
    call_type: str | None = None, config: SegmentConfig = DEFAULT_SEGMENT_CONFIG
) -> Adapter:
    """The uniform entry point for Segment bodies posted to the endpoint of ``call_type``."""
    if call_type is not None and call_type not in CALL_TYPES | {"batch"}:
        raise ValueError(f"unknown Segment call type {call_type!r}")

    def adapt(body: bytes, headers: Mapping[str, str], received_at: datetime) -> AdapterResult:
        require_aware(received_at)
        try:
            documents = load_json(body)
        except AdapterError as error:
            return AdapterResult.failed(error)
        return segment_batch(
            documents, received_at=received_at, config=config, call_type=call_type
        )

    return adapt
