"""One contract, two state backends: the in-memory store (replay) and Redis (the worker).

The same stories run through `Stitcher` with in-memory state and through the worker's
identity and journey stages on the real Redis; both must emit exactly the same events.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from journey_stitcher.config import load_config
from journey_stitcher.errors import InvalidInput
from journey_stitcher.interactions.parse import parse_interaction
from journey_stitcher.stitcher import Stitcher
from journey_stitcher.storage.redis_state import (
    KeyLayout,
    read_records,
    record_bucket,
    week_of,
    write_records,
)
from journey_stitcher.worker.records import Topics
from journey_stitcher.worker.stages import IdentityStage, Incoming, JourneyStage

pytestmark = pytest.mark.integration

PEPPER = b"contract-pepper"
CONFIG = load_config(None)
TOPICS = Topics("in", "resolved", "journeys", "handoffs", "identities", "dlq")
Outputs = list[dict[str, Any]] | str


class Driver(Protocol):
    async def send(self, event: dict[str, Any]) -> Outputs: ...


class MemoryDriver:
    """`replay`'s path: the stitcher over in-memory stores."""

    def __init__(self) -> None:
        self.stitcher = Stitcher(CONFIG, PEPPER)

    async def send(self, event: dict[str, Any]) -> Outputs:
        try:
            return self.stitcher.process_line(orjson.dumps(event))
        except InvalidInput as rejection:
            return rejection.reason


class RedisDriver:
    """The worker's path: identity stage → re-keyed record → journey stage, on Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.clock = datetime(2000, 1, 1, tzinfo=UTC)
        self.layout = KeyLayout(prefix=prefix, shards=1)
        self.redis = redis
        self.identity = IdentityStage(CONFIG, PEPPER, redis, self.layout, TOPICS, self._now)
        self.journeys = JourneyStage(CONFIG, PEPPER, redis, self.layout, TOPICS, self._now)
        self.offset = 0

    def _now(self) -> datetime:
        return self.clock

    async def send(self, event: dict[str, Any]) -> Outputs:
        raw = orjson.dumps(event)
        with contextlib.suppress(InvalidInput):  # replay's clock: the latest event time seen
            self.clock = max(self.clock, parse_interaction(raw, CONFIG).occurred_at)
        self.offset += 1
        first = await self.identity.process([Incoming(raw, None, "in", 0, self.offset)])
        dead = [r for r in first if r.topic == "dlq"]
        if dead:
            return dict(dead[0].headers or [])["error.reason"].decode()
        resolved = [r for r in first if r.topic == "resolved"]
        identity = [orjson.loads(r.value) for r in first if r.topic == "identities"]
        second = await self.journeys.process(
            [Incoming(resolved[0].value, resolved[0].key, "resolved", 0, self.offset)])
        return identity + [orjson.loads(r.value) for r in second]


@pytest.fixture(params=["memory", "redis"])
async def driver(request: pytest.FixtureRequest, redis: Redis) -> Driver:
    """Each backend in turn."""
    if request.param == "memory":
        return MemoryDriver()
    return RedisDriver(redis, f"contract-{uuid.uuid4().hex[:8]}")


def ev(n: int, channel: str, touchpoint: str, at: str, **extra: Any) -> dict[str, Any]:
    event = {"event_id": f"c-{n}", "occurred_at": at, "channel": channel,
             "touchpoint": touchpoint, "identifiers": extra.pop("ids", [])}
    event.update(extra)
    return event


def verified(kind: str, value: str) -> dict[str, Any]:
    return {"type": kind, "value": value, "verified": True}


def plain(kind: str, value: str) -> dict[str, Any]:
    return {"type": kind, "value": value}


STORY = [
    ev(1, "web", "compare", "2026-05-04T08:10:00Z", ids=[plain("cookie_id", "ck")],
       device={"id": "phone"}, refs={"product_id": "BIKE"}),
    ev(2, "web", "identify", "2026-05-04T21:00:00Z",
       ids=[verified("customer_id", "M"), plain("cookie_id", "ck"), plain("phone", "+393475550101")]),
    ev(3, "web", "purchase", "2026-05-04T21:05:00Z", ids=[verified("customer_id", "M")],
       device={"id": "laptop"}, refs={"order_id": "O-1"}, outcome="completed"),
    ev(4, "courier", "pay", "2026-05-06T11:30:00Z", refs={"order_id": "O-1"}),
    ev(5, "voice", "support", "2026-05-06T15:00:00Z", ids=[plain("phone", "+39 347 555 0101")],
       refs={"order_id": "O-1"}),
    ev(6, "app", "inform", "2026-05-06T16:00:00Z", ids=[verified("customer_id", "OTHER"),
                                                       plain("phone", "+393475550101")]),
    ev(7, "web", "inform", "2026-05-06T15:30:00Z", ids=[verified("customer_id", "M")]),
    ev(8, "courier", "purchase", "2026-05-06T17:00:00Z", refs={"order_id": "O-1"}),
    ev(9, "web", "inform", "2026-05-06T18:00:00Z", ids=[plain("email", "null")]),
]


async def test_both_backends_tell_the_same_story(driver: Driver) -> None:
    """Merges, handoffs, conflicts, late events and rejections come out identically."""
    outputs = [await driver.send(event) for event in STORY]
    reference = MemoryDriver()
    assert outputs == [await reference.send(event) for event in STORY]
    flat = [e["type"] for out in outputs if isinstance(out, list) for e in out]
    assert "identity.merged" not in flat  # the anonymous cookie profile was simply extended
    assert flat.count("journey.handoff") >= 3
    assert outputs[5][0]["data"]["reason"] == "limit_exceeded"  # type: ignore[index]
    assert outputs[7] == "unsupported_touchpoint"
    assert outputs[8] == "no_identity"


async def test_a_redelivered_event_re_emits_identically(driver: Driver) -> None:
    """The second delivery of an interaction changes nothing and repeats its outputs."""
    for event in STORY[:3]:
        await driver.send(event)
    first = await driver.send(STORY[3])
    assert await driver.send(STORY[3]) == first
    after = await driver.send(STORY[4])
    assert after[0]["data"]["sequence"] == 4  # type: ignore[index]


async def test_anonymous_profile_merges_at_login(driver: Driver) -> None:
    """A cookie's anonymous journey moves to the customer who logs in with it."""
    await driver.send(ev(1, "app", "inform", "2026-05-01T09:00:00Z", ids=[verified("customer_id", "K")]))
    anon = await driver.send(ev(2, "web", "compare", "2026-05-01T10:00:00Z", ids=[plain("cookie_id", "z")]))
    login = await driver.send(ev(3, "web", "identify", "2026-05-01T10:05:00Z",
                                 ids=[verified("customer_id", "K"), plain("cookie_id", "z")]))
    assert [e["type"] for e in login] == ["identity.merged"]  # type: ignore[index]
    later = await driver.send(ev(4, "web", "purchase", "2026-05-01T10:30:00Z",
                                 ids=[plain("cookie_id", "z")], outcome="completed"))
    assert later[0]["data"]["journey_id"] == anon[0]["data"]["journey_id"]  # type: ignore[index]
    assert later[0]["subject"] == login[0]["data"]["survivor_id"]  # type: ignore[index]


async def test_idle_journeys_are_abandoned_once_by_the_sweep(redis: Redis) -> None:
    """The Redis sweep abandons an idle cart exactly once, even when run again or by a
    new worker, and keeps the output in the outbox until it is acknowledged."""
    driver = RedisDriver(redis, f"sweep-{uuid.uuid4().hex[:8]}")
    cart = await driver.send(ev(1, "web", "purchase", "2026-05-01T09:00:00Z",
                                ids=[verified("customer_id", "K")], refs={"cart_id": "C1"},
                                outcome="started"))
    driver.clock = datetime(2026, 5, 20, tzinfo=UTC)
    swept = await driver.journeys.sweep(0)
    assert [orjson.loads(r.value)["type"] for r in swept] == ["journey.abandoned"]
    assert orjson.loads(swept[0].value)["data"]["journey_id"] == cart[0]["data"]["journey_id"]  # type: ignore[index]
    assert await driver.journeys.pending(0) == swept  # not acknowledged yet: survives a crash
    restarted = RedisDriver(redis, driver.layout.prefix)
    restarted.clock = driver.clock
    assert await restarted.journeys.sweep(0) == []
    await restarted.journeys.acknowledge(0, swept)
    assert await restarted.journeys.pending(0) == []


async def test_an_event_merged_away_in_its_own_batch_is_still_recognised(redis: Redis) -> None:
    """An anonymous event and the login that merges its profile, placed in one batch: a
    redelivery of the anonymous event afterwards (still addressed to the profile merged
    away, whose tombstone leads to the survivor) changes nothing and re-emits what the
    batch emitted for it."""
    driver = RedisDriver(redis, f"batch-{uuid.uuid4().hex[:8]}")
    await driver.send(ev(1, "app", "inform", "2026-05-01T09:00:00Z", ids=[verified("customer_id", "K")]))
    driver.clock = datetime(2026, 5, 1, 10, 5, tzinfo=UTC)
    anon = orjson.dumps(ev(2, "web", "compare", "2026-05-01T10:00:00Z", ids=[plain("cookie_id", "z")]))
    login = orjson.dumps(ev(3, "web", "identify", "2026-05-01T10:05:00Z",
                            ids=[verified("customer_id", "K"), plain("cookie_id", "z")]))
    resolved = []
    for offset, raw in enumerate((anon, login), start=10):
        records = await driver.identity.process([Incoming(raw, None, "in", 0, offset)])
        resolved += [Incoming(r.value, r.key, "resolved", 0, offset)
                     for r in records if r.topic == "resolved"]
    assert orjson.loads(resolved[1].value)["m"]  # the login merged the cookie's profile
    batch = [orjson.loads(r.value) for r in await driver.journeys.process(resolved)]
    anon_outputs = [e for e in batch if e["data"]["event_id"] == "c-2"]
    assert [e["type"] for e in anon_outputs] == ["journey.started"]
    state = await redis_snapshot(redis, driver.layout.prefix)

    again = await driver.identity.process([Incoming(anon, None, "in", 0, 20)])
    redelivered = [Incoming(r.value, r.key, "resolved", 0, 20) for r in again if r.topic == "resolved"]
    assert orjson.loads(redelivered[0].value)["c"] == orjson.loads(resolved[0].value)["c"]
    replayed = [orjson.loads(r.value) for r in await driver.journeys.process(redelivered)]
    assert replayed == anon_outputs
    assert await redis_snapshot(redis, driver.layout.prefix) == state


@pytest.mark.parametrize("delivered", [0, 1], ids=["all-lost", "first-delivered"])
async def test_re_keyed_records_lost_in_a_crash_are_placed_as_replay_places_them(
        redis: Redis, delivered: int) -> None:
    """The identity stage wrote a batch (an anonymous visit, then the login that merges its
    profile into a known customer's) and crashed before Kafka acknowledged its re-keyed
    records (none, or only the first, reached the journey stage). Redelivered, the visit is
    addressed to the profile it was resolved to, not to the survivor: it starts its own
    journey, as in replay, instead of joining the known customer's."""
    known = ev(1, "app", "inform", "2026-05-01T09:00:00Z", ids=[verified("customer_id", "K")])
    anon = ev(2, "web", "compare", "2026-05-01T10:00:00Z", ids=[plain("cookie_id", "z")])
    login = ev(3, "web", "identify", "2026-05-01T10:05:00Z",
               ids=[verified("customer_id", "K"), plain("cookie_id", "z")])
    reference = MemoryDriver()
    expected: list[dict[str, Any]] = []
    for event in (known, anon, login):
        out = await reference.send(event)
        assert isinstance(out, list)
        expected += out
    assert [e["type"] for e in expected] == ["journey.started", "journey.started", "identity.merged"]

    driver = RedisDriver(redis, f"lost-{uuid.uuid4().hex[:8]}")
    outputs = await driver.send(known)
    assert isinstance(outputs, list)
    driver.clock = datetime(2026, 5, 1, 10, 5, tzinfo=UTC)
    batch = [Incoming(orjson.dumps(event), None, "in", 0, offset)
             for offset, event in enumerate((anon, login), start=10)]
    first = [r for r in await driver.identity.process(batch) if r.topic == "resolved"]
    for offset, record in enumerate(first[:delivered], start=20):
        outputs += [orjson.loads(r.value) for r in await driver.journeys.process(
            [Incoming(record.value, record.key, "resolved", 0, offset)])]
    again = await driver.identity.process(batch)  # the redelivered input batch
    outputs += [orjson.loads(r.value) for r in again if r.topic == "identities"]
    redelivered = [Incoming(r.value, r.key, "resolved", 0, offset)
                   for offset, r in enumerate((r for r in again if r.topic == "resolved"), start=30)]
    outputs += [orjson.loads(r.value) for r in await driver.journeys.process(redelivered)]
    assert {e["id"]: e for e in outputs} == {e["id"]: e for e in expected}
    assert [orjson.loads(r.value)["c"] for r in redelivered] == [
        orjson.loads(r.value)["c"] for r in first]


async def redis_snapshot(redis: Redis, prefix: str) -> dict[bytes, Any]:
    """Every key of a prefix with its value (hashes as dicts, sorted sets as lists)."""
    found: dict[bytes, Any] = {}
    async for key in redis.scan_iter(match=f"{prefix}:*"):
        kind = await redis.type(key)
        found[key] = (await redis.hgetall(key) if kind == b"hash"
                      else await redis.zrange(key, 0, -1, withscores=True) if kind == b"zset"
                      else await redis.get(key))
    return found


class CountingRedis(Redis):
    """The real Redis client, noting the name of every command its pipelines queue."""

    queued: list[str]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        counting = self

        class Counting(Pipeline):
            def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
                counting.queued.append(str(args[0]).upper())
                return super().pipeline_execute_command(*args, **options)

        return Counting(self.connection_pool, self.response_callbacks, transaction, shard_hint)


@pytest.fixture
async def counting(endpoints: tuple[str, str]) -> AsyncIterator[CountingRedis]:
    client = CountingRedis.from_url(endpoints[1])
    client.queued = []
    yield client
    await client.aclose()


async def rekeyed(driver: RedisDriver, event: dict[str, Any], offset: int, partition: int = 0) -> Incoming:
    """`event` through the identity stage: its re-keyed record, at (partition, offset)."""
    records = await driver.identity.process([Incoming(orjson.dumps(event), None, "in", 0, offset)])
    record = next(r for r in records if r.topic == "resolved")
    return Incoming(record.value, record.key, "resolved", partition, offset)


async def test_a_record_redelivered_to_the_journey_stage_re_emits_identically(
        counting: CountingRedis) -> None:
    """A crash after the journey stage wrote a batch but before its offsets were committed
    redelivers the same re-keyed records, which the identity stage did not flag as seen
    twice: the customer's state recognises them by offset, reads their stored outputs and
    re-emits them, changing nothing. New records read no stored outputs at all."""
    driver = RedisDriver(counting, f"redeliver-{uuid.uuid4().hex[:8]}")
    for event in STORY[:3]:
        await driver.send(event)
    driver.clock = datetime(2026, 5, 6, 11, 30, tzinfo=UTC)
    record = await rekeyed(driver, STORY[3], offset=40)
    assert orjson.loads(record.value)["d"] is False

    counting.queued.clear()
    first = [orjson.loads(r.value) for r in await driver.journeys.process([record])]
    assert not {"HMGET", "HGETALL"} & set(counting.queued)
    assert [e["type"] for e in first] == ["journey.continued", "journey.handoff"]
    state = await redis_snapshot(counting, driver.layout.prefix)

    counting.queued.clear()
    again = [orjson.loads(r.value) for r in await driver.journeys.process([record])]
    assert "HMGET" in counting.queued
    assert again == first
    assert await redis_snapshot(counting, driver.layout.prefix) == state


@pytest.mark.parametrize("change", ["older_state", "other_partition", "merged_away"])
async def test_stored_outputs_are_read_whenever_the_state_cannot_rule_a_redelivery_out(
        counting: CountingRedis, change: str) -> None:
    """A state written before positions existed, a record from another partition (the
    re-keyed topic was resized) or a customer merged away: the stored outputs decide."""
    driver = RedisDriver(counting, f"unsure-{uuid.uuid4().hex[:8]}")
    for event in STORY[:3]:
        await driver.send(event)
    driver.clock = datetime(2026, 5, 6, 11, 30, tzinfo=UTC)
    record = await rekeyed(driver, STORY[3], offset=40)
    first = [orjson.loads(r.value) for r in await driver.journeys.process([record])]
    customer = orjson.loads(record.value)["c"]
    key = driver.layout.customer(customer)
    stored = orjson.loads(await counting.get(key))
    if change == "older_state":
        del stored["o"]
        record = Incoming(record.value, record.key, record.topic, record.partition, 41)
    elif change == "other_partition":
        record = Incoming(record.value, record.key, record.topic, 3, 41)
    else:
        stored = {"c": customer, "j": [], "m": "cus_elsewhere"}
    await counting.set(key, orjson.dumps(stored), keepttl=True)

    counting.queued.clear()
    again = [orjson.loads(r.value) for r in await driver.journeys.process([record])]
    assert "HMGET" in counting.queued
    if change == "merged_away":  # the survivor never saw it: the tombstone sends it on
        assert [e["subject"] for e in again] == ["cus_elsewhere"]
    else:
        assert again == first


async def test_identity_decisions_are_recognised_for_a_week_and_kept_in_buckets(redis: Redis) -> None:
    """A decision is a field of this week's bucket hash (with its TTL); a redelivery is
    recognised in the next week, through last week's bucket, and resolved afresh once the
    decision's week is two weeks back."""
    driver = RedisDriver(redis, f"buckets-{uuid.uuid4().hex[:8]}")
    layout = driver.layout
    raw = orjson.dumps(ev(1, "web", "inform", "2026-05-04T09:00:00Z", ids=[plain("email", "b@x.io")]))
    first = await driver.identity.process([Incoming(raw, None, "in", 0, 1)])
    customer = orjson.loads(next(r for r in first if r.topic == "resolved").value)["c"]
    week = week_of(driver.clock)
    bucket = layout.records(week, record_bucket("c-1"))
    assert await redis.hget(bucket, "c-1") == customer.encode()
    assert 14 * 86_400_000 < await redis.pttl(bucket) <= 15 * 86_400_000
    assert await redis.exists(layout.record("c-1")) == 0  # no key of its own

    async def redelivered() -> bool:
        records = await driver.identity.process([Incoming(raw, None, "in", 0, 1)])
        envelope = orjson.loads(next(r for r in records if r.topic == "resolved").value)
        assert envelope["c"] == customer
        return bool(envelope["d"])

    driver.clock += timedelta(days=7)
    assert week_of(driver.clock) == week + 1
    assert await redelivered()
    assert await redis.hlen(layout.records(week + 1, record_bucket("c-1"))) == 0
    driver.clock += timedelta(days=7)
    assert not await redelivered()  # out of the dedup window: a new decision, this week
    assert await redis.hget(layout.records(week + 2, record_bucket("c-1")), "c-1") == customer.encode()


async def test_decisions_written_as_keys_before_buckets_are_still_recognised(redis: Redis) -> None:
    """After an upgrade, an interaction whose decision the previous layout stored under a
    key of its own is a redelivery, addressed to that decision's customer."""
    driver = RedisDriver(redis, f"legacy-{uuid.uuid4().hex[:8]}")
    await redis.set(driver.layout.record("c-1"), "cus_from_the_old_layout", px=60_000)
    raw = orjson.dumps(ev(1, "web", "inform", "2026-05-04T09:00:00Z", ids=[plain("email", "b@x.io")]))
    records = await driver.identity.process([Incoming(raw, None, "in", 0, 1)])
    envelope = orjson.loads(next(r for r in records if r.topic == "resolved").value)
    assert (envelope["c"], envelope["d"]) == ("cus_from_the_old_layout", True)


async def test_one_batch_reads_and_writes_its_decisions_in_one_command_each(redis: Redis) -> None:
    """Decisions of a batch spread over many buckets: read back exactly, missing ones as
    None, wherever they are (this week's bucket, last week's, the old key)."""
    layout = KeyLayout(prefix=f"bulk-{uuid.uuid4().hex[:8]}", shards=1)
    week = 2_900
    now = {f"n-{i}": f"cus_{i}".encode() for i in range(300)}
    before = {f"b-{i}": f"cus_b{i}".encode() for i in range(50)}
    await write_records(redis, layout, now, week, timedelta(days=15))
    await write_records(redis, layout, before, week - 1, timedelta(days=15))
    await redis.set(layout.record("old"), b"cus_old")
    await write_records(redis, layout, {"stale": b"cus_stale"}, week - 2, timedelta(days=15))
    wanted = [*now, *before, "old", "stale", "never"]
    found = await read_records(redis, layout, wanted, week)
    assert dict(zip(wanted, found, strict=True)) == {
        **now, **before, "old": b"cus_old", "stale": None, "never": None}
    buckets = {record_bucket(e) for e in now}
    assert len(buckets) > 250  # spread: a batch does not pile up in one hash
    assert sum([await redis.hlen(layout.records(week, b)) for b in buckets]) == len(now)


async def test_a_touchpoint_at_the_end_of_the_calendar_is_stitched_alike(driver: Driver) -> None:
    """An adapter's `9999-12-31` placeholder time: deadlines, TTLs and weeks stay in range."""
    story = [ev(1, "web", "inform", "9999-12-25T10:00:00Z", ids=[verified("customer_id", "F")]),
             ev(2, "app", "compare", "9999-12-31T23:59:59.999999Z", ids=[verified("customer_id", "F")])]
    outputs = [await driver.send(event) for event in story]
    reference = MemoryDriver()
    assert outputs == [await reference.send(event) for event in story]
    assert [e["type"] for out in outputs for e in out] == [  # type: ignore[index]
        "journey.started", "journey.continued", "journey.handoff"]
