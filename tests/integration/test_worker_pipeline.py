"""The worker on the real broker and Redis: equal to replay, resilient to poison and kills."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from journey_stitcher.generator import GeneratorConfig, generate_line_bytes
from tests.integration.harness import (
    Deployment,
    Record,
    Worker,
    read_topics,
    replay_outputs,
)

pytestmark = pytest.mark.integration

OUTPUTS = ("journeys", "handoffs", "identities")


def traffic(events: int = 3000, customers: int = 300, seed: int = 11, **extra: Any) -> list[bytes]:
    """Recent, conflict-free omnichannel traffic (wall-clock abandonment cannot interfere)."""
    cfg = GeneratorConfig(events=events, customers=customers, seed=seed, recent=True,
                          conflict_free=True, **extra)
    return list(generate_line_bytes(cfg))


def by_topic(records: list[Record], deployment: Deployment) -> dict[str, list[dict[str, Any]]]:
    names = {deployment.topic(t): t for t in OUTPUTS}
    topics: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        topics[names[record.topic]].append(record.event)
    return topics


def replay_by_topic(lines: list[bytes]) -> dict[str, list[dict[str, Any]]]:
    topics: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in replay_outputs(lines):
        topic = {"journey.handoff": "handoffs", "identity.merged": "identities",
                 "identity.conflict": "identities"}.get(event["type"], "journeys")
        topics[topic].append(event)
    return topics


async def run_worker_over(
    deployment: Deployment, lines: list[bytes], expected: int, tmp_path: Path, extra: int = 0,
    **env: str,
) -> list[Record]:
    await deployment.publish(lines)
    worker = Worker(deployment, tmp_path / f"{deployment.name}.log", **env)
    try:
        return await read_topics(deployment.bootstrap, [deployment.topic(t) for t in OUTPUTS],
                                 at_least=expected + extra, timeout=180, settle=1.0)
    finally:
        assert worker.stop() == 0, (tmp_path / f"{deployment.name}.log").read_text()[-3000:]


async def test_one_partition_worker_equals_replay(deployment: Deployment, tmp_path: Path) -> None:
    """On one partition the worker emits exactly replay's events, in replay's order per
    topic, with the same CloudEvent ids and content."""
    lines = traffic()
    expected = replay_by_topic(lines)
    assert not any(e["type"] == "journey.abandoned" for e in expected["journeys"])
    total = sum(len(v) for v in expected.values())
    assert expected["identities"], "the traffic must include merges"
    assert expected["handoffs"], "the traffic must include handoffs"
    records = await run_worker_over(deployment, lines, total, tmp_path)
    emitted = by_topic(records, deployment)
    for topic in OUTPUTS:
        assert len(emitted[topic]) == len(expected[topic]), topic
        for position, (got, want) in enumerate(zip(emitted[topic], expected[topic], strict=True)):
            assert got == want, f"{topic} #{position}"


def final_customers(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each customer id mentioned, mapped to the survivor it was finally merged into."""
    merged_into = {e["data"]["merged_id"]: e["data"]["survivor_id"]
                   for e in events if e["type"] == "identity.merged"}
    final: dict[str, str] = {}
    for event in events:
        customer = event["subject"]
        while customer in merged_into:
            customer = merged_into[customer]
        final[event["subject"]] = customer
    return final


def placements(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] in ("journey.started", "journey.continued")]


def groups(pairs: list[tuple[str, str]]) -> set[frozenset[str]]:
    """The partition of interactions (second) by group key (first)."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for key, event_id in pairs:
        grouped[key].add(event_id)
    return {frozenset(v) for v in grouped.values()}


def customer_groups(events: list[dict[str, Any]]) -> set[frozenset[str]]:
    """Which interactions belong to the same customer, once every merge is applied."""
    final = final_customers(events)
    return groups([(final[e["subject"]], e["data"]["event_id"]) for e in placements(events)])


def journey_groups(events: list[dict[str, Any]], among: set[str]) -> set[frozenset[str]]:
    """Which of the interactions `among` share a journey."""
    return groups([(e["data"]["journey_id"], e["data"]["event_id"]) for e in placements(events)
                   if e["data"]["event_id"] in among])


@pytest.mark.parametrize("batch_size", ["500", "10"])
async def test_eight_partitions_group_like_replay(
        endpoints: tuple[str, str], tmp_path: Path, batch_size: str) -> None:
    """On eight partitions, consumed chunk by chunk in whatever order, interactions fall into
    the same customers and the same journeys as in replay (the worker merges the partitions
    back into arrival order). With batches of 10, a partition is paused at 20 held records,
    so the 3,000-record backlog goes through many pauses and resumptions: nothing is lost or
    stuck."""
    deployment = Deployment(*endpoints, partitions=8)
    lines = traffic(seed=12)
    expected = replay_outputs(lines)
    assert any(e["type"] == "identity.merged" for e in expected)
    await deployment.publish(lines)
    log = tmp_path / f"{deployment.name}.log"
    worker = Worker(deployment, log, JOURNEY_STITCHER_BATCH_SIZE=batch_size)
    try:  # until every interaction is placed: a lull of a second must not end the read early
        records = await _distinct_placements(deployment, [deployment.topic(t) for t in OUTPUTS],
                                             len(placements(expected)))
    finally:
        assert worker.stop() == 0, log.read_text()[-3000:]
    emitted = [r.event for r in records]
    assert len(placements(emitted)) == len(placements(expected))
    assert customer_groups(emitted) == customer_groups(expected)
    everything = {e["data"]["event_id"] for e in placements(expected)}
    assert journey_groups(emitted, everything) == journey_groups(expected, everything)


async def test_poison_messages_go_to_the_dead_letter_topic(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Bad lines in the middle of good ones reach the DLQ untouched with their reason and
    source; the good ones are stitched as if the bad ones were not there."""
    good = traffic(events=400, customers=60, seed=13)
    poison = [b"{not json", b'{"event_id": "x"}', b'{"event_id":"u","occurred_at":'
              b'"2026-01-01T00:00:00Z","channel":"fax","touchpoint":"inform","identifiers":'
              b'[{"type":"email","value":"a@b.co"}]}', b"[1, 2, 3]"]
    lines = good[:150] + poison[:2] + good[150:300] + poison[2:] + good[300:]
    expected = replay_by_topic(good)
    total = sum(len(v) for v in expected.values())
    records = await run_worker_over(deployment, lines, total, tmp_path)
    assert by_topic(records, deployment) == expected
    dead = await read_topics(deployment.bootstrap, [deployment.topic("dlq")],
                             at_least=len(poison), timeout=60)
    assert sorted(r.value for r in dead) == sorted(poison)
    reasons = {r.value: dict(r.headers) for r in dead}
    assert reasons[b"{not json"][b"error.reason".decode()] == b"invalid_json"
    assert reasons[poison[2]]["error.reason"] == b"unknown_channel"
    assert reasons[b"[1, 2, 3]"]["error.reason"] == b"schema_violation"
    for headers in reasons.values():
        assert headers["source.topic"] == deployment.topic("interactions").encode()
        assert int(headers["source.offset"]) >= 0
        assert headers["error.message"]


async def redis_state(redis: Redis, prefix: str) -> dict[str, Any]:
    """Every key of one deployment, its prefix removed, with a comparable value."""
    state: dict[str, Any] = {}
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        kind = (await redis.type(key)).decode()
        name = key.decode()[len(prefix):]
        if kind == "string":
            value = await redis.get(key)
            state[name] = orjson.loads(value) if value[:1] in (b"{", b"[") else value
            if name.endswith(":j"):  # the re-keyed offset last applied differs run by run
                state[name].pop("o", None)
        elif kind == "zset":
            state[name] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            state[name] = await redis.hgetall(key)
    return state


async def test_a_killed_worker_restarts_to_the_same_state_and_outputs(
    endpoints: tuple[str, str], redis: Redis, tmp_path: Path
) -> None:
    """A worker killed with SIGKILL mid-run and restarted ends with the Redis state and the
    distinct output events of an uninterrupted run."""
    lines = traffic(events=2500, customers=250, seed=14)
    expected_count = sum(len(v) for v in replay_by_topic(lines).values())
    calm = Deployment(*endpoints)
    calm_records = await run_worker_over(calm, lines, expected_count, tmp_path)

    crashed = Deployment(*endpoints)
    await crashed.publish(lines)
    log = tmp_path / "crashed.log"
    first = Worker(crashed, log, JOURNEY_STITCHER_BATCH_SIZE="50")
    topics = [crashed.topic(t) for t in OUTPUTS]
    await read_topics(crashed.bootstrap, topics, at_least=expected_count // 3, timeout=180)
    first.kill()
    so_far = await read_topics(crashed.bootstrap, topics, at_least=0, timeout=30, settle=0.5)
    assert len(so_far) < expected_count, "the worker finished before it was killed"
    second = Worker(crashed, log)
    try:
        crashed_records = await _distinct_at_least(crashed, topics, expected_count)
    finally:
        assert second.stop() == 0
    assert {r.event["id"]: r.event for r in crashed_records} == {
        r.event["id"]: r.event for r in calm_records}
    assert await redis_state(redis, crashed.prefix) == await redis_state(redis, calm.prefix)


async def _distinct_at_least(deployment: Deployment, topics: list[str], count: int) -> list[Record]:
    """Read until `count` distinct CloudEvent ids arrived (duplicates are allowed)."""
    at_least = count
    for _ in range(20):
        records = await read_topics(deployment.bootstrap, topics, at_least=at_least, timeout=180,
                                    settle=1.0)
        distinct = {r.event["id"] for r in records}
        if len(distinct) >= count:
            return records
        at_least = len(records) + (count - len(distinct))  # the next read starts over
    raise AssertionError("the restarted worker never caught up")


async def test_a_second_worker_joining_mid_run_changes_nothing(
    endpoints: tuple[str, str], tmp_path: Path
) -> None:
    """A second worker joining in the middle of a run takes over partitions (a rebalance);
    every interaction is still placed, once or in identical duplicates, grouped as in replay."""
    deployment = Deployment(*endpoints, partitions=8)
    lines = traffic(events=2500, customers=250, seed=15)
    expected = replay_outputs(lines)
    await deployment.publish(lines)
    topics = [deployment.topic(t) for t in OUTPUTS]
    first = Worker(deployment, tmp_path / "first.log", JOURNEY_STITCHER_BATCH_SIZE="50")
    try:
        await read_topics(deployment.bootstrap, topics, at_least=len(expected) // 4, timeout=180)
        second = Worker(deployment, tmp_path / "second.log", JOURNEY_STITCHER_BATCH_SIZE="50")
        try:
            so_far = await read_topics(deployment.bootstrap, topics, at_least=0, timeout=30)
            assert len(so_far) < len(expected), "the first worker finished before the second came"
            records = await _distinct_placements(deployment, topics, len(placements(expected)))
        finally:
            assert second.stop() == 0
    finally:
        assert first.stop() == 0
    emitted = list({r.event["id"]: r.event for r in records}.values())
    assert customer_groups(emitted) == customer_groups(expected)
    everything = {e["data"]["event_id"] for e in placements(expected)}
    assert journey_groups(emitted, everything) == journey_groups(expected, everything)


async def _distinct_placements(deployment: Deployment, topics: list[str], count: int) -> list[Record]:
    """Read until `count` distinct interactions were placed in journeys."""
    at_least = count
    for _ in range(20):
        records = await read_topics(deployment.bootstrap, topics, at_least=at_least, timeout=180,
                                    settle=1.0)
        placed = {r.event["data"]["event_id"] for r in records
                  if r.event["type"] in ("journey.started", "journey.continued")}
        if len(placed) >= count:
            return records
        at_least = len(records) + (count - len(placed))
    raise AssertionError("the workers never placed every interaction")
