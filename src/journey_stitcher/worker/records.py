"""What the worker sends to Kafka, and the one thing it needs from a producer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from journey_stitcher.identity.model import CloudEvent
from journey_stitcher.outputs import topic_of
from journey_stitcher.settings import Settings

Headers = list[tuple[str, bytes]]
# A consumed record's headers as the client hands them over: pairs, or a mapping.
RecordHeaders = Sequence[tuple[str, object]] | Mapping[str, object]
# The CloudEvents Kafka binding's structured mode says so in a header.
CLOUDEVENT_HEADERS: Headers = [("content-type", b"application/cloudevents+json")]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One Kafka record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None = None
    timestamp_ms: int | None = None  # None: the producer's clock


class Sender(Protocol):
    """Produces records and returns only once Kafka acknowledged every one of them."""

    async def send_all(self, records: Sequence[OutgoingRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class Topics:
    """The configured topic names."""

    interactions: str
    resolved: str
    journeys: str
    handoffs: str
    identities: str
    dlq: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(settings.topic_interactions, settings.topic_resolved, settings.topic_journeys,
                   settings.topic_handoffs, settings.topic_identities, settings.topic_dlq)

    def outputs(self) -> tuple[str, ...]:
        return (self.journeys, self.handoffs, self.identities)

    def record(self, event: CloudEvent) -> OutgoingRecord:
        """A CloudEvent as the record for its topic, keyed by customer id."""
        name = {"journeys": self.journeys, "handoffs": self.handoffs,
                "identities": self.identities}[topic_of(event)]
        return OutgoingRecord(name, event["subject"].encode(), orjson.dumps(event),
                              CLOUDEVENT_HEADERS)


def dead_letter(
    topic: str, raw: bytes, key: bytes | None, reason: str, message: str,
    source_topic: str, partition: int, offset: int, kept: RecordHeaders = (),
) -> OutgoingRecord:
    """The original bytes, untouched, with the reason in headers (SPEC §5); the original
    record's own headers (`kept`: a trace context, the adapter's) follow, except those of the
    same names as the reason's (dlq-record.v1.json: "Other headers of the original record are
    kept")."""
    headers: Headers = [
        ("error.reason", reason.encode()),
        ("error.message", message.encode()),
        ("source.topic", source_topic.encode()),
        ("source.partition", str(partition).encode()),
        ("source.offset", str(offset).encode()),
    ]
    ours = {name for name, _ in headers}
    pairs = kept.items() if isinstance(kept, Mapping) else kept
    headers += [(str(name), _header_bytes(value)) for name, value in pairs if name not in ours]
    return OutgoingRecord(topic, key, raw, headers)


def _header_bytes(value: object) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else str(value).encode()
