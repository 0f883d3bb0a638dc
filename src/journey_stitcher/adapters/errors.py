"""Why an adapter turned a vendor payload (or one item of it) into no event.

Two outcomes besides an event:

* :class:`AdapterError` — the item is broken (unparseable, incomplete, contradictory). It is an
  :class:`~journey_stitcher.errors.InvalidInput`: it belongs in the dead-letter topic with its
  ``reason``, and the vendor should hear about it (HTTP 4xx for a single call).
* :class:`Skip` — the item is well formed but is not a customer touchpoint (an e-mail
  ``delivered`` report, an unmapped analytics event). Nothing is wrong; it is counted, not
  dead-lettered, and the vendor gets a 2xx so it does not retry.

Both carry ``reason`` (a short machine-readable code, constants below), ``message`` (for people,
naming the offending field and value) and ``field`` (the payload field at fault, when one is).
"""

from __future__ import annotations

from typing import Final

from journey_stitcher.errors import InvalidInput

__all__ = [
    "DELIVERY_STATUS",
    "DUPLICATE_EVENT_ID",
    "DUPLICATE_ITEM",
    "INVALID_ENCODING",
    "INVALID_FIELD",
    "INVALID_JSON",
    "INVALID_PAYLOAD",
    "INVALID_TIMESTAMP",
    "MACHINE_OPEN",
    "MISSING_FIELD",
    "MISSING_HEADER",
    "NOT_A_TOUCHPOINT",
    "NO_IDENTITY",
    "UNMAPPED_EVENT",
    "UNSUPPORTED_CALL",
    "UNSUPPORTED_TOPIC",
    "AdapterError",
    "Skip",
]

# --- rejection reasons (AdapterError.reason) ---------------------------------------------------
INVALID_JSON: Final = "invalid_json"
"""The body (or one line of a JSON Lines body) is not JSON."""
INVALID_ENCODING: Final = "invalid_encoding"
"""The body is not UTF-8 (or not the form/CSV encoding the vendor documents)."""
INVALID_PAYLOAD: Final = "invalid_payload"
"""The JSON has the wrong shape: an array where an object belongs, a CSV row with extra cells."""
MISSING_FIELD: Final = "missing_field"
"""A field the vendor always sends is absent or empty."""
INVALID_FIELD: Final = "invalid_field"
"""A field has a value outside what the vendor documents (unknown call type, non-string id)."""
INVALID_TIMESTAMP: Final = "invalid_timestamp"
"""No usable event time: the timestamp fields are malformed and nothing can stand in."""
NO_IDENTITY: Final = "no_identity"
"""Nothing says who the customer is (same reason the core uses, SPEC §3)."""
DUPLICATE_EVENT_ID: Final = "duplicate_event_id"
"""Two different items of one batch claim the same vendor event id."""
MISSING_HEADER: Final = "missing_header"
"""A header the adapter needs (Shopify's ``X-Shopify-Topic``) is absent."""

# --- skip reasons (Skip.reason) ----------------------------------------------------------------
UNMAPPED_EVENT: Final = "unmapped_event"
"""An event name the touchpoint mapping does not know (configurable)."""
NOT_A_TOUCHPOINT: Final = "not_a_touchpoint"
"""A delivery report of a message the company sent (SendGrid processed/delivered/bounce...)."""
DELIVERY_STATUS: Final = "delivery_status"
"""A status callback of an outbound SMS (Twilio sent/delivered/failed...)."""
MACHINE_OPEN: Final = "machine_open"
"""An e-mail open fired by a privacy proxy (Apple Mail Privacy Protection), not by a person."""
UNSUPPORTED_CALL: Final = "unsupported_call"
"""A Segment call that is not a touchpoint (group, alias)."""
UNSUPPORTED_TOPIC: Final = "unsupported_topic"
"""A Shopify webhook topic the adapter does not map (configurable)."""
DUPLICATE_ITEM: Final = "duplicate_item"
"""An item repeated verbatim within one batch: its event is emitted once."""


class AdapterError(InvalidInput):
    """A vendor payload (or one item of a batch) that cannot become an interaction event."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(reason, message)
        self.field = field

    def __repr__(self) -> str:
        return f"AdapterError({self.reason!r}, {self.message!r}, field={self.field!r})"


class Skip(Exception):
    """A well-formed item that is deliberately not turned into an event."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"Skip({self.reason!r}, {self.message!r}, field={self.field!r})"
