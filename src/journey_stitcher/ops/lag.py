"""Consumer lag of a consumer group, from its committed offsets and the high-water marks.

`LagProbe` keeps one admin client and one group-less consumer for repeated questions (the
worker measures its own lag every `JOURNEY_STITCHER_LAG_INTERVAL_SECONDS`; `journey-stitcher
lag` asks once). The lag in messages is `end − committed`; its age is `now − timestamp` of the
record at the committed offset, the oldest one the group has not finished.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = ["LagProbe", "PartitionLag", "consumer_lag", "partitions_of"]

# The age of a lag needs the first record due, nothing more. The broker always returns the
# whole first record batch (KIP-74), so asking for 1 byte gets exactly one batch per fetch:
# what the consumer prefetched beyond it is dropped at `unsubscribe`, and aiokafka frees an
# unread fetch only in a garbage collection (a reference cycle). With 64 KiB per partition a
# worker measuring every 10 s while far behind held ~1 MiB more per measurement until one came.
PEEK_FETCH_BYTES = 1


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far a group's committed offset is behind the end of one partition."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end: int
    start: int = 0  # first offset still in the log: where a group without a commit begins
    age_seconds: float | None = None  # of the record at `position`; 0 without lag; None: unknown

    @property
    def position(self) -> int:
        """The offset the group resumes from."""
        return self.committed if self.committed is not None else self.start

    @property
    def lag(self) -> int:
        return max(0, self.end - self.position)


async def partitions_of(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> dict[str, list[int]]:
    """The partition numbers of each existing topic among `topics` (none is created: a
    metadata request naming a missing topic may create it on brokers that auto-create)."""
    existing = set(await admin.list_topics())
    wanted = [topic for topic in dict.fromkeys(topics) if topic in existing]
    if not wanted:
        return {}
    described = await admin.describe_topics(wanted)
    return {d["topic"]: sorted(p["partition"] for p in d["partitions"])
            for d in described if d.get("error_code", 0) == 0}


class LagProbe:
    """Answers lag questions about any consumer group; connects in :meth:`start`.

    Every call gives up after `timeout` seconds with ``TimeoutError``; Kafka errors are
    aiokafka's (``KafkaError``).
    """

    def __init__(
        self, bootstrap: str, options: Mapping[str, Any] | None = None, *, timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bootstrap = bootstrap
        self._options = dict(options or {})
        self._timeout = timeout
        self._clock = clock
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap,
                                    request_timeout_ms=int(self._timeout * 1000), **self._options)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    request_timeout_ms=int(self._timeout * 1000),
                                    max_partition_fetch_bytes=PEEK_FETCH_BYTES,
                                    fetch_max_bytes=PEEK_FETCH_BYTES, **self._options)
        try:
            async with asyncio.timeout(self._timeout):
                await admin.start()
                await consumer.start()
        except BaseException:
            await consumer.stop()
            await admin.close()
            raise
        self._admin, self._consumer = admin, consumer

    async def stop(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()

    @property
    def started(self) -> bool:
        return self._admin is not None

    async def ping(self) -> str:
        """A metadata request to the cluster; what it found."""
        admin, _ = self._clients()
        async with asyncio.timeout(self._timeout):
            cluster = await admin.describe_cluster()
        return f"{len(cluster.get('brokers', ()))} broker(s)"

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """Every partition of the existing topics among `topics`."""
        admin, _ = self._clients()
        async with asyncio.timeout(self._timeout):
            found = await partitions_of(admin, topics)
        return [TopicPartition(topic, p) for topic, numbers in found.items() for p in numbers]

    async def measure(
        self, group: str, partitions: Sequence[TopicPartition], *, ages: bool = True
    ) -> list[PartitionLag]:
        """Lag of `group` on `partitions` (and, with `ages`, the age of each lag)."""
        if not partitions:
            return []
        admin, consumer = self._clients()
        async with asyncio.timeout(self._timeout):
            committed = await admin.list_consumer_group_offsets(group, partitions=list(partitions))
            starts = await consumer.beginning_offsets(list(partitions))
            ends = await consumer.end_offsets(list(partitions))
        lags = []
        for tp in partitions:
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else None
            lags.append(PartitionLag(tp.topic, tp.partition, offset, ends[tp], starts[tp]))
        return await self._with_ages(lags) if ages else lags

    async def _with_ages(self, lags: list[PartitionLag]) -> list[PartitionLag]:
        """Fill `age_seconds`: 0 without lag, else now − timestamp of the first record due."""
        behind = {TopicPartition(p.topic, p.partition): p.position for p in lags if p.lag > 0}
        stamps = await self._first_timestamps(behind) if behind else {}
        now_ms = self._clock() * 1000
        result = []
        for p in lags:
            stamp = stamps.get(TopicPartition(p.topic, p.partition))
            age = 0.0 if p.lag == 0 else (max(0.0, now_ms - stamp) / 1000 if stamp is not None else None)
            result.append(replace(p, age_seconds=age))
        return result

    async def _first_timestamps(self, positions: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The timestamp (ms) of the record at each position, as far as they arrive in time."""
        _, consumer = self._clients()
        consumer.assign(list(positions))
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        found: dict[TopicPartition, int] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        try:
            while len(found) < len(positions) and loop.time() < deadline:
                waiting = [tp for tp in positions if tp not in found]
                batches = await consumer.getmany(*waiting, timeout_ms=200)
                for tp, records in batches.items():
                    if records and tp not in found:
                        found[tp] = records[0].timestamp
        finally:
            consumer.unsubscribe()  # no background fetching between questions
        return found

    def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            raise RuntimeError("LagProbe.start() first")
        return self._admin, self._consumer


async def consumer_lag(
    bootstrap: str, group: str, topics: Iterable[str], *, options: Mapping[str, Any] | None = None,
    ages: bool = False,
) -> list[PartitionLag]:
    """Lag of `group` on every partition of `topics` (one question, one connection)."""
    probe = LagProbe(bootstrap, options)
    await probe.start()
    try:
        return await probe.measure(group, await probe.partitions(topics), ages=ages)
    finally:
        await probe.stop()
