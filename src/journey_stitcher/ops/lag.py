"""Consumer lag of a consumer group, from its committed offsets and the high-water marks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far a group's committed offset is behind the end of one partition."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


async def partitions_of(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> dict[str, list[int]]:
    """The partition numbers of each existing topic among `topics`."""
    described = await admin.describe_topics(list(topics))
    return {d["topic"]: sorted(p["partition"] for p in d["partitions"])
            for d in described if d.get("error_code", 0) == 0}


async def consumer_lag(bootstrap: str, group: str, topics: Iterable[str]) -> list[PartitionLag]:
    """Lag of `group` on every partition of `topics`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        partitions = [TopicPartition(topic, p) for topic, found in
                      (await partitions_of(admin, topics)).items() for p in found]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        result = []
        for tp in partitions:
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else None
            result.append(PartitionLag(tp.topic, tp.partition, offset, ends[tp]))
        return result
    finally:
        await consumer.stop()
        await admin.close()
