"""Vendor payload files through an adapter: what `publish --adapter NAME FILE` sends.

A file holds what the vendor would have posted, the way the adapters read it:

* ``twilio`` — form bodies, one webhook per line (``CallSid=CA..&CallStatus=completed&...``);
* every other adapter — the whole file is one body: a JSON document, a JSON array or JSON Lines
  (each adapter reads all three), or a CSV file for ``csv``.

Rejected items keep their place (line, item index) for the report; the gateway's rules apply:
valid items are published, rejected ones are dead-lettered (``source.topic`` ``publish/<name>``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from journey_stitcher.adapters import Adapter, AdapterResult, Event
from journey_stitcher.gateway.producer import EventProducer, dead_letters

__all__ = ["Payload", "adapt_file", "publish_payloads", "rejection_lines"]

LINE_PER_BODY = frozenset({"twilio"})
"""Adapters whose files hold one form-encoded body per line."""


@dataclass(frozen=True, slots=True)
class Payload:
    """One body of the file (``where``: ``line 3`` or ``the file``) and what the adapter made."""

    where: str
    body: bytes
    result: AdapterResult


def bodies(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The bodies of a file for adapter ``name``, each with where it is in the file."""
    if name not in LINE_PER_BODY:
        yield "the file", data
        return
    for number, line in enumerate(data.splitlines(), 1):
        if line.strip():
            yield f"line {number}", line.strip()


def adapt_file(
    name: str, adapter: Adapter, data: bytes, headers: Mapping[str, str], received_at: datetime
) -> list[Payload]:
    """Every body of the file through the adapter, as if each had been posted at ``received_at``."""
    return [Payload(where, body, adapter(body, headers, received_at))
            for where, body in bodies(name, data)]


def rejection_lines(payloads: Sequence[Payload]) -> list[str]:
    """One line per rejected item, for people: where, reason and the adapter's message."""
    return [
        f"{payload.where}"
        + ("" if rejection.index is None else f", item {rejection.index}")
        + f": {rejection.reason}: {rejection.message}"
        for payload in payloads for rejection in payload.result.rejected
    ]


async def publish_payloads(
    payloads: Sequence[Payload], producer: EventProducer, *, name: str, dlq_topic: str,
    progress: Callable[[int], None] = lambda _n: None, chunk: int = 2000,
) -> tuple[int, int]:
    """Publish every event, then dead-letter every rejected item; (published, dead-lettered).

    Returns once Kafka acknowledged everything; raises ``KafkaUnavailable`` otherwise.
    """
    events: list[Event] = [event for payload in payloads for event in payload.result.events]
    for start in range(0, len(events), chunk):
        batch = events[start:start + chunk]
        await producer.send_events(batch)
        progress(len(batch))
    letters = [record for payload in payloads
               for record in dead_letters(dlq_topic, f"publish/{name}", name, payload.body,
                                          payload.result.rejected)]
    await producer.send_events((), letters)
    return len(events), len(letters)
