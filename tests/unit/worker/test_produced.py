"""Records a worker re-keys count as "may still deliver" until it has consumed them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from journey_stitcher.worker.app import FaustSender
from journey_stitcher.worker.ordering import Produced
from journey_stitcher.worker.records import OutgoingRecord


@dataclass
class Metadata:
    topic: str
    partition: int
    offset: int


class FakeProducer:
    """Acknowledges sends only when told to, and remembers the partitions asked for."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, int | None]] = []
        self.acks: list[asyncio.Future[Metadata]] = []
        self.both_sent = asyncio.Event()

    async def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None,
                   timestamp: float | None, headers: Any) -> asyncio.Future[Metadata]:
        self.sent.append((topic, key, partition))
        future: asyncio.Future[Metadata] = asyncio.get_running_loop().create_future()
        self.acks.append(future)
        if len(self.acks) == 2:
            self.both_sent.set()
        return future


class FakeApp:
    def __init__(self) -> None:
        self.producer = FakeProducer()


def test_partitions_are_chosen_like_kafkas_default_partitioner() -> None:
    produced = Produced("resolved", 8)
    keys = [f"cus_{n:024x}".encode() for n in range(200)]
    assert [produced.partition(k) for k in keys] == [
        DefaultPartitioner()(k, list(range(8)), list(range(8))) for k in keys]


async def test_a_partition_is_in_flight_until_acknowledged_then_known_by_offset() -> None:
    produced = Produced("resolved", 8)
    app = FakeApp()
    sender = FaustSender(app, tracked=produced)  # type: ignore[arg-type]
    key = b"cus_1"
    target = produced.partition(key)
    records = [OutgoingRecord("resolved", key, b"{}"), OutgoingRecord("journeys", key, b"{}")]
    sending = asyncio.create_task(sender.send_all(records))
    await asyncio.wait_for(app.producer.both_sent.wait(), timeout=5)
    assert app.producer.sent == [("resolved", key, target), ("journeys", key, None)]
    assert produced.in_flight(target)
    assert not any(produced.in_flight(p) for p in range(8) if p != target)
    assert produced.end_offset(target) == 0
    app.producer.acks[0].set_result(Metadata("resolved", target, 41))
    app.producer.acks[1].set_result(Metadata("journeys", 3, 7))
    await sending
    assert not produced.in_flight(target)
    assert produced.end_offset(target) == 42
    assert produced.end_offset(3) == 0  # other topics are not tracked
