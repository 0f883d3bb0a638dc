"""The gateway on the real broker: a 202 means the interactions are on the topic."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from click.testing import CliRunner

from journey_stitcher.cli import main
from journey_stitcher.config import StitcherConfig
from journey_stitcher.gateway.app import create_gateway
from journey_stitcher.gateway.main import build_producer
from journey_stitcher.kafka import ensure_topic
from journey_stitcher.settings import Settings
from journey_stitcher.testing.services import service_endpoints
from tests.unit.gateway.conftest import (
    browse,
    gateway_settings,
    login,
    segment_post,
    shopify_post,
    web_order,
)

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0
PARTITIONS = 3
UNREACHABLE = "127.0.0.1:1"

Client = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def bootstrap() -> str:
    """Bootstrap servers of the running Kafka broker."""
    return service_endpoints()[0]


@pytest.fixture
def topics(bootstrap: str) -> Iterator[tuple[str, str]]:
    """Fresh interactions and dead-letter topics for one test, deleted after it."""
    run = uuid.uuid4().hex[:12]
    names = (f"test-gateway-{run}-interactions", f"test-gateway-{run}-dlq")

    async def create() -> None:
        for name in names:
            await ensure_topic(bootstrap, name, PARTITIONS)

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(list(names))
        finally:
            await admin.close()

    asyncio.run(create())
    yield names
    asyncio.run(delete())


def kafka_settings(bootstrap: str, topics: tuple[str, str], **overrides: Any) -> Settings:
    """Gateway settings pointing at the broker and this test's topics."""
    values: dict[str, Any] = {"kafka_bootstrap_servers": bootstrap, "topic_interactions": topics[0],
                              "topic_dlq": topics[1], "gateway_send_timeout_seconds": 10.0}
    return gateway_settings(**values | overrides)


@asynccontextmanager
async def kafka_gateway(settings: Settings) -> AsyncIterator[Client]:
    """The gateway with its real producer, serving on a free local port."""
    app = create_gateway(settings, build_producer(settings, StitcherConfig()))
    async with TestClient(TestServer(app)) as client:
        yield client


async def read_topic(bootstrap: str, topic: str, count: int) -> list[Any]:
    """Every record of the topic, polling until ``count`` arrived or the deadline passed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(records) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(records)} of {count} records on {topic}: {records}")
            batch = await consumer.getmany(*partitions, timeout_ms=500)
            records.extend(record for part in batch.values() for record in part)
        return records
    finally:
        await consumer.stop()


async def test_signed_orders_and_batches_are_on_the_topic_when_202_comes_back(
    bootstrap: str, topics: tuple[str, str]
) -> None:
    """Giulia's Shopify order and her Segment session, once answered 202, are readable events."""
    order_body, order_headers = shopify_post()
    batch_body, batch_headers = segment_post([browse(), login()])
    async with kafka_gateway(kafka_settings(bootstrap, topics)) as client:
        assert (await client.get("/readyz")).status == 200
        order = await client.post("/v1/ingest/shopify", data=order_body, headers=order_headers)
        batch = await client.post("/v1/ingest/segment", data=batch_body, headers=batch_headers)
        assert (order.status, batch.status) == (202, 202)
    records = await read_topic(bootstrap, topics[0], 3)
    events = {orjson.loads(r.value)["event_id"]: r for r in records}
    assert set(events) == {"shopify:5917349085231:orders/create",
                           "segment:ajs-next-7f3c1e", "segment:ajs-next-81aa02"}
    for record in records:
        assert record.key is not None
        assert b"giulia" not in record.key  # the key is a keyed hash, never the raw identifier


async def test_a_bad_call_of_a_batch_is_dead_lettered_on_the_real_dlq(
    bootstrap: str, topics: tuple[str, str]
) -> None:
    """The broken call of a partly bad batch lands on the DLQ with its reason, nothing is lost."""
    body, headers = segment_post([browse(), browse("ajs-bad-1", timestamp="2015-2-02T00:30Z")])
    async with kafka_gateway(kafka_settings(bootstrap, topics)) as client:
        response = await client.post("/v1/ingest/segment", data=body, headers=headers)
        assert response.status == 202
    [published] = await read_topic(bootstrap, topics[0], 1)
    [letter] = await read_topic(bootstrap, topics[1], 1)
    assert orjson.loads(published.value)["event_id"] == "segment:ajs-next-7f3c1e"
    assert orjson.loads(letter.value)["messageId"] == "ajs-bad-1"
    assert dict(letter.headers) == {
        "error.reason": b"invalid_timestamp",
        "error.message": b"timestamp: invalid_timestamp (item 1 of a segment payload)",
        "source.topic": b"gateway/segment",
        "source.partition": b"-1",
        "source.offset": b"-1",
    }


async def test_an_unreachable_kafka_is_503_with_retry_after_in_bounded_time(
    topics: tuple[str, str]
) -> None:
    """With no broker to acknowledge, Shopify hears 503 and when to retry, within seconds."""
    settings = kafka_settings(UNREACHABLE, topics, gateway_send_timeout_seconds=3.0)
    body, headers = shopify_post()
    started = time.monotonic()
    async with kafka_gateway(settings) as client:
        response = await client.post("/v1/ingest/shopify", data=body, headers=headers)
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert (ready.status, alive.status) == (503, 200)
    assert time.monotonic() - started < 10.0


def test_a_vendor_file_is_published_through_its_adapter(
    bootstrap: str, topics: tuple[str, str], tmp_path: Path
) -> None:
    """`publish --adapter shopify` puts an export's orders on the topic, like the webhook would."""
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(orjson.dumps(web_order()) + b"\n"
                       + orjson.dumps(web_order(id=5917349085232, name="#1413")) + b"\n")
    result = CliRunner().invoke(
        main, ["publish", "--adapter", "shopify", "--header", "X-Shopify-Topic: orders/paid",
               "--topic", topics[0], "--quiet", str(orders)],
        env={"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "JOURNEY_STITCHER_TOPIC_DLQ": topics[1]},
    )
    assert result.exit_code == 0, result.stderr
    assert "published 2 events" in result.stderr
    records = asyncio.run(read_topic(bootstrap, topics[0], 2))
    assert sorted(orjson.loads(r.value)["event_id"] for r in records) == [
        "shopify:5917349085231:orders/paid", "shopify:5917349085232:orders/paid"]
