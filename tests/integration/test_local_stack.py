"""The real Kafka broker and Redis server answer the way the stitcher needs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from journey_stitcher.testing.services import service_endpoints

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def endpoints() -> tuple[str, str]:
    """Kafka bootstrap servers and Redis URL of the running services."""
    return service_endpoints()


@asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[Any]:
    """A started aiokafka admin client, closed on exit (in the test's own event loop)."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-local-stack")
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def _partition_count(admin: Any, topic: str) -> int:
    """Poll the metadata until every partition of the topic has a leader; count them."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        described = await admin.describe_topics([topic])
        entry = next((t for t in described if t["topic"] == topic), None)
        if (
            entry is not None
            and entry["error_code"] == 0
            and entry["partitions"]
            and all(p["leader"] >= 0 for p in entry["partitions"])
        ):
            return len(entry["partitions"])
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic} not in the metadata: {described!r}")
        await asyncio.sleep(0.1)


async def test_kafka_topic_produce_consume(endpoints: tuple[str, str]) -> None:
    """A 3-partition topic can be created, written to and read back on the real broker."""
    bootstrap = endpoints[0]
    topic = f"test-local-stack-{uuid.uuid4().hex[:12]}"
    async with _admin(bootstrap) as admin:
        await _create_produce_consume(admin, bootstrap, topic)


async def _create_produce_consume(admin: Any, bootstrap: str, topic: str) -> None:
    """Create `topic` with 3 partitions, round-trip one record through it, delete it."""
    response = await admin.create_topics(
        [NewTopic(name=topic, num_partitions=3, replication_factor=1)], timeout_ms=15_000
    )
    errors = [(t[0], t[1]) for t in response.topic_errors if t[1] != 0]
    assert errors == []
    try:
        assert await _partition_count(admin, topic) == 3

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                topic, b"hello-journey", key=b"customer-1", partition=2
            )
        finally:
            await producer.stop()
        assert sent.partition == 2

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            partition = TopicPartition(topic, 2)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            records = await consumer.getmany(partition, timeout_ms=int(DEADLINE_S * 1000))
        finally:
            await consumer.stop()
        got = [(r.key, r.value, r.offset) for r in records.get(partition, [])]
        assert got == [(b"customer-1", b"hello-journey", sent.offset)]
    finally:
        await admin.delete_topics([topic])


async def test_redis_set_get_and_appendonly(endpoints: tuple[str, str]) -> None:
    """Redis stores and returns a value and runs with the append-only file on."""
    client = aioredis.from_url(endpoints[1], decode_responses=True)
    key = f"test-local-stack:{uuid.uuid4().hex}"
    try:
        assert await client.set(key, "stitched", ex=60)
        assert await client.get(key) == "stitched"
        assert await client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        await client.delete(key)
        await client.aclose()
