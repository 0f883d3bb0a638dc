"""Records placed on chosen partitions by hand: restarts with an idle partition, tombstones,
the original record's headers on the dead-letter topic."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from journey_stitcher.kafka import ensure_topics
from tests.integration.harness import OUTPUT_TOPICS, Deployment, Worker, read_topics

pytestmark = pytest.mark.integration


def interaction(event_id: str, email: str) -> bytes:
    return orjson.dumps({
        "event_id": event_id, "occurred_at": "2026-03-01T10:00:00Z", "channel": "web",
        "touchpoint": "compare", "identifiers": [{"type": "email", "value": email}],
    })


async def place(deployment: Deployment, *records: tuple[int, bytes | None,
                                                      list[tuple[str, bytes]]]) -> None:
    """Produce (partition, value, headers) records to the deployment's interactions topic."""
    topics = [deployment.topic(t) for t in ("interactions", *OUTPUT_TOPICS)]
    await ensure_topics(deployment.bootstrap, topics, deployment.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=deployment.bootstrap)
    await producer.start()
    try:
        for partition, value, headers in records:
            await producer.send_and_wait(deployment.topic("interactions"), value, key=b"k",
                                         partition=partition, headers=headers)
    finally:
        await producer.stop()


async def stitched(deployment: Deployment, *event_ids: str) -> set[str]:
    """The interactions with journey outputs, once every one of `event_ids` has some (a
    record may come twice: at least once, with identical ids); fails after 90 s."""
    deadline = time.monotonic() + 90
    at_least = len(event_ids)
    while True:
        records = await read_topics(deployment.bootstrap, [deployment.topic("journeys")],
                                    at_least=at_least, timeout=max(1.0, deadline - time.monotonic()))
        found = {r.event["data"]["event_id"] for r in records}
        if found >= set(event_ids):
            return found
        at_least = len(records) + 1


async def test_a_restart_with_an_idle_partition_holds_nothing_back(
    endpoints: tuple[str, str], tmp_path: Path
) -> None:
    """Both partitions are done and committed when the worker stops; afterwards only
    partition 0 receives an interaction. The restarted worker has consumed nothing of
    partition 1, whose committed offset is its end: it is caught up, not behind, so the new
    interaction is stitched at once instead of waiting for partition 1 to deliver."""
    deployment = Deployment(*endpoints, partitions=2)
    await place(deployment, (0, interaction("p0-first", "ann@x.com"), []),
                (1, interaction("p1-first", "bob@x.com"), []))
    log = tmp_path / "worker.log"
    first = Worker(deployment, log)
    try:
        assert await stitched(deployment, "p0-first", "p1-first") == {"p0-first", "p1-first"}
    finally:
        assert first.stop() == 0
    await place(deployment, (0, interaction("p0-after-restart", "cyd@x.com"), []))
    second = Worker(deployment, log)
    try:
        assert "p0-after-restart" in await stitched(deployment, "p0-after-restart")
    finally:
        assert second.stop() == 0


async def test_a_tombstone_and_the_original_headers_reach_the_dead_letter_topic(
    endpoints: tuple[str, str], tmp_path: Path
) -> None:
    """A record without a value (a tombstone) is dead-lettered as invalid_json instead of
    crashing the identity agent, a bad record keeps its own headers (a trace context) beside
    the reason's, and the valid interaction after both is stitched."""
    deployment = Deployment(*endpoints)
    trace = ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    await place(deployment, (0, None, []), (0, b"{not json", [trace, ("error.reason", b"x")]),
                (0, interaction("after-both", "dee@x.com"), []))
    worker = Worker(deployment, tmp_path / "worker.log")
    try:
        dead = await read_topics(deployment.bootstrap, [deployment.topic("dlq")], at_least=2,
                                 timeout=90)
        assert await stitched(deployment, "after-both") == {"after-both"}
    finally:
        assert worker.stop() == 0
    by_value = {r.value: r.headers for r in dead}
    tombstone = dict(by_value[b""])
    assert tombstone["error.reason"] == b"invalid_json"
    assert b"tombstone" in tombstone["error.message"]
    assert tombstone["source.offset"] == b"0"
    bad = by_value[b"{not json"]
    assert trace in bad
    assert [value for name, value in bad if name == "error.reason"] == [b"invalid_json"]
