"""The generator's own copy of the default catalog of SPEC §4.

The generator must only produce events the default catalog accepts, but it does not import
the product's catalog module: it keeps this small, independent copy so that a regression in
either one shows up as a disagreement in the tests instead of silently agreeing with itself.
"""

from __future__ import annotations

from typing import Final

CHANNELS: Final = (
    "web", "app", "chat", "email", "social", "kiosk", "ads", "iot",
    "voice", "sms", "store", "courier", "field_service", "print",
)

FAMILY: Final[dict[str, str]] = {
    "discover": "purchase", "inform": "purchase", "compare": "purchase", "verify": "purchase",
    "purchase": "purchase", "pay": "purchase", "order_delivery": "purchase",
    "delivery": "purchase", "pickup": "purchase",
    "support": "service", "complaint": "service", "return": "service", "service_visit": "service",
    "feedback": "loyalty", "loyalty": "loyalty",
}
"""Journey family of every touchpoint but `identify`."""

TOUCHPOINTS: Final = (*FAMILY, "identify")

GOALS: Final = frozenset({"purchase", "support", "complaint", "return", "service_visit"})

_PHYSICAL_ONLY: Final = frozenset({"delivery", "pickup", "service_visit"})
_EVERY: Final = frozenset(TOUCHPOINTS)
_DIGITAL: Final = _EVERY - _PHYSICAL_ONLY

SUPPORTS: Final[dict[str, frozenset[str]]] = {
    "ads": frozenset({"discover", "identify"}),
    "print": frozenset({"discover", "identify"}),
    "iot": frozenset({"discover", "support", "identify"}),
    "courier": frozenset({"delivery", "pay", "return", "pickup", "identify"}),
    "field_service": frozenset({"service_visit", "support", "pay", "feedback", "identify"}),
    "store": _EVERY,
    "sms": _EVERY - _PHYSICAL_ONLY - {"purchase"},
    **dict.fromkeys(("web", "app", "chat", "email", "social", "kiosk", "voice"), _DIGITAL),
}
"""Capability matrix: the touchpoints each channel supports (`identify` everywhere)."""

IDENTIFIER_MAX: Final[dict[str, int]] = {
    "customer_id": 1, "loyalty_id": 1, "email": 5, "phone": 5, "device_id": 20, "cookie_id": 50,
}
"""Per-profile maximum of each identifier type."""

ANONYMOUS_TYPES: Final = frozenset({"device_id", "cookie_id"})
OWNED_REFS: Final = frozenset({"order_id", "cart_id", "case_id", "appointment_id"})
OUTCOMES: Final = frozenset({"started", "completed", "failed", "abandoned"})


def supports(channel: str, touchpoint: str) -> bool:
    """Whether the default catalog accepts `touchpoint` on `channel`."""
    allowed = SUPPORTS.get(channel)
    return allowed is not None and touchpoint in allowed
