"""The abandonment timer's sweep when Redis is away: postponed, never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from redis.exceptions import ConnectionError as RedisConnectionError

from journey_stitcher.worker.app import sweep_idle
from journey_stitcher.worker.records import OutgoingRecord
from journey_stitcher.worker.stages import JourneyStage


class Shards:
    """The journey stage's sweep of idle journeys over shards, with Redis away for some."""

    def __init__(self, down: set[int]) -> None:
        self.down = down
        self.acknowledged: list[int] = []

    async def pending(self, shard: int) -> list[OutgoingRecord]:
        if shard in self.down:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:16379.")
        return []

    async def sweep(self, shard: int) -> list[OutgoingRecord]:
        return [OutgoingRecord("journeys", b"cus_1", f"abandoned {shard}".encode())]

    async def acknowledge(self, shard: int, records: Sequence[OutgoingRecord]) -> None:
        if records:
            self.acknowledged.append(shard)


class Sent:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def send_all(self, records: Sequence[OutgoingRecord]) -> None:
        self.records += records


def run(shards: Shards, sender: Sent) -> bool:
    stage = cast(JourneyStage, shards)
    return asyncio.run(sweep_idle([0, 1], stage, cast(Any, sender), asyncio.Lock()))


def test_redis_away_postpones_the_sweep_instead_of_crashing_the_worker() -> None:
    """A connection error in the sweep (Redis restarting) ends this tick quietly: the worker
    keeps running, and what was not swept stays in Redis for the next tick."""
    shards, sender = Shards(down={1}), Sent()
    assert run(shards, sender) is False
    assert shards.acknowledged == [0]  # shard 0 went through before Redis went away
    assert [r.value for r in sender.records] == [b"abandoned 0"]


def test_the_next_tick_sweeps_what_was_postponed() -> None:
    """Once Redis answers again, every shard is swept."""
    shards, sender = Shards(down={1}), Sent()
    run(shards, sender)
    shards.down.clear()
    assert run(shards, sender) is True
    assert shards.acknowledged == [0, 0, 1]
