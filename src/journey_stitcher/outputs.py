"""Output events: CloudEvents 1.0 in structured JSON mode (SPEC §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from journey_stitcher.identity.model import CloudEvent

SCHEMA_BASE: Final = "https://journey-stitcher.dev/schemas/"

JOURNEY_STARTED: Final = "journey.started"
JOURNEY_CONTINUED: Final = "journey.continued"
JOURNEY_HANDOFF: Final = "journey.handoff"
JOURNEY_COMPLETED: Final = "journey.completed"
JOURNEY_ABANDONED: Final = "journey.abandoned"
IDENTITY_MERGED: Final = "identity.merged"
IDENTITY_CONFLICT: Final = "identity.conflict"

OUTPUT_TYPES: Final = (
    JOURNEY_STARTED, JOURNEY_CONTINUED, JOURNEY_HANDOFF, JOURNEY_COMPLETED,
    JOURNEY_ABANDONED, IDENTITY_MERGED, IDENTITY_CONFLICT,
)

# The logical topic of each output type; the worker maps these to configured topic names.
TOPIC_OF_TYPE: Final[dict[str, str]] = {
    JOURNEY_STARTED: "journeys",
    JOURNEY_CONTINUED: "journeys",
    JOURNEY_COMPLETED: "journeys",
    JOURNEY_ABANDONED: "journeys",
    JOURNEY_HANDOFF: "handoffs",
    IDENTITY_MERGED: "identities",
    IDENTITY_CONFLICT: "identities",
}


@lru_cache(maxsize=65_536)  # the same touch times are written again in every context
def rfc3339(moment: datetime) -> str:
    """`moment` in UTC as RFC 3339 with a `Z`, keeping milli- or microseconds when present."""
    utc = moment.astimezone(UTC) if moment.utcoffset() else moment
    text = utc.replace(tzinfo=None).isoformat()
    if utc.microsecond and utc.microsecond % 1000 == 0:
        text = text[:-3]
    return text + "Z"


def cloudevent(
    *, source: str, event_type: str, event_id: str, subject: str, time: str,
    data: dict[str, Any],
) -> CloudEvent:
    """One output event; `subject` (and the Kafka key) is the customer id."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type,
        "subject": subject,
        "time": time,
        "datacontenttype": "application/json",
        "dataschema": f"{SCHEMA_BASE}{event_type}.v1.json",
        "data": data,
    }


def topic_of(event: CloudEvent) -> str:
    """The logical topic (`journeys`, `handoffs`, `identities`) an output goes to."""
    return TOPIC_OF_TYPE[event["type"]]
