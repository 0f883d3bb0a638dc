"""A partition fetched ahead of the others is paused, not piled up (`InArrivalOrder`).

Faust's consumer is replaced by a small in-memory stand-in: this is the ordering logic
alone; the worker's integration tests run it against the real broker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.types import TP

from journey_stitcher.worker.app import InArrivalOrder, in_batches

TOPIC = "interactions"


@dataclass
class Message:
    partition: int
    offset: int
    timestamp: float
    topic: str = TOPIC
    key: bytes | None = None
    value: bytes = b"{}"
    refs: int = 0

    def incref(self) -> None:
        self.refs += 1

    def decref(self) -> None:
        self.refs -= 1


@dataclass
class Event:
    message: Message


@dataclass
class Consumer:
    """What `InArrivalOrder` asks of Faust's consumer: its assignment, high-water marks
    and back pressure (`on_buffer_full` takes a partition out of the fetches, keeping
    what was fetched; `on_buffer_drop` puts it back)."""

    ends: dict[int, int]
    paused: set[int] = field(default_factory=set)
    calls: list[tuple[str, int]] = field(default_factory=list)

    def assignment(self) -> set[TP]:
        return {TP(TOPIC, p) for p in self.ends}

    def highwater(self, tp: TP) -> int:
        return self.ends[tp.partition]

    def on_buffer_full(self, tp: TP) -> None:
        if tp.partition not in self.paused:
            self.calls.append(("pause", tp.partition))
        self.paused.add(tp.partition)

    def on_buffer_drop(self, tp: TP) -> None:
        self.paused.discard(tp.partition)
        self.calls.append(("resume", tp.partition))


@dataclass
class App:
    consumer: Consumer


def events(partition: int, offsets: range, first_second: float) -> list[Any]:
    return [Event(Message(partition, o, first_second + o)) for o in offsets]


def test_a_partition_ahead_is_paused_while_held_and_resumed_once_drained() -> None:
    """Partition 0 delivers 1,200 records while partition 1, with older records on the
    broker, has delivered none: partition 0 is paused at 1,000 held; once partition 1's
    older records come, both drain in arrival order and partition 0 is resumed."""
    consumer = Consumer(ends={0: 5_000, 1: 5_000})
    held: list[int] = []
    order = InArrivalOrder(cast(faust.App, App(consumer)), TOPIC, pause_at=1_000, on_held=held.append)

    assert order.arrange(events(0, range(0, 600), 10_000.0)) == []
    assert consumer.calls == []
    assert order.arrange(events(0, range(600, 1_200), 10_000.0)) == []
    assert consumer.calls == [("pause", 0)]
    assert order.paused == consumer.paused == {0}
    assert held[-1] == 1_200 == order.held

    older = events(1, range(400), 9_000.5)  # all older than partition 0's
    out = order.arrange(older)
    # everything of partition 1 goes (it is older), partition 0 waits for more of partition 1
    assert [e.message.partition for e in out] == [1] * 400
    assert order.paused == {0}  # still 1,200 of partition 0 held

    consumer.on_buffer_drop(TP(TOPIC, 0))  # Faust's own buffer drained meanwhile
    assert order.arrange([]) == []
    assert consumer.paused == {0}  # paused again: partition 0 is still crowded

    consumer.ends[1] = 400  # partition 1 caught up: partition 0's records go
    out = order.arrange([])
    assert [e.message.offset for e in out] == list(range(1_200))
    assert consumer.calls[-1] == ("resume", 0)
    assert order.paused == frozenset()
    assert consumer.paused == set()
    assert held[-1] == 0


def test_held_events_keep_a_reference_and_revoked_partitions_forget_their_pause() -> None:
    """Held events are not acknowledged (an extra reference), and a revoked partition's
    events are dropped unacknowledged and its pause forgotten."""
    consumer = Consumer(ends={0: 5_000, 1: 5_000})
    order = InArrivalOrder(cast(faust.App, App(consumer)), TOPIC, pause_at=10)
    batch = events(0, range(20), 100.0)
    assert order.arrange(batch) == []
    assert all(e.message.refs == 1 for e in batch)
    assert order.paused == {0}

    del consumer.ends[0]  # revoked
    assert order.arrange([]) == []
    assert all(e.message.refs == 0 for e in batch)
    assert order.held == 0
    assert order.paused == frozenset()


def test_what_the_merge_releases_at_once_is_processed_a_batch_at_a_time() -> None:
    """When the partition the merge waited for catches up, everything held goes at once
    (1,200 events here); the worker processes it in batches of its batch size, in order."""
    consumer = Consumer(ends={0: 5_000, 1: 0})
    order = InArrivalOrder(cast(faust.App, App(consumer)), TOPIC, pause_at=2_000)
    consumer.ends[1] = 1  # partition 1 has a record not fetched yet: partition 0 waits
    assert order.arrange(events(0, range(1_200), 10_000.0)) == []
    consumer.ends[1] = 0
    released = order.arrange([])
    assert len(released) == 1_200

    processed: list[list[Any]] = []

    async def process(batch: list[Any]) -> None:
        processed.append(batch)

    asyncio.run(in_batches(released, 500, process))
    assert [len(b) for b in processed] == [500, 500, 200]
    assert [e.message.offset for b in processed for e in b] == list(range(1_200))
