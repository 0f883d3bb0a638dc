"""`journey-stitcher show` and `erase` on state the worker's own stages wrote to the real Redis,
with the tombstones read back from the real broker."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from journey_stitcher import ids
from journey_stitcher.config import load_config
from journey_stitcher.interactions.model import Identifier
from journey_stitcher.kafka import ensure_topics
from journey_stitcher.ops.erasure import erase
from journey_stitcher.ops.subject import parse_subject
from journey_stitcher.stitcher import normalizer_for
from journey_stitcher.storage.redis_state import KeyLayout
from journey_stitcher.worker.records import Topics
from journey_stitcher.worker.stages import IdentityStage, Incoming, JourneyStage
from tests.integration.harness import PEPPER, Deployment, read_topics

pytestmark = pytest.mark.integration

CONFIG = load_config(None)
NORMALIZER = normalizer_for(CONFIG, PEPPER.encode())
OUTPUT_TOPICS = ("journeys", "handoffs", "identities")


def ev(event_id: str, channel: str, touchpoint: str, at: str, *identifiers: dict[str, Any],
       **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": at, "channel": channel, "touchpoint": touchpoint,
            "identifiers": list(identifiers), **extra}


def verified(kind: str, value: str) -> dict[str, Any]:
    return {"type": kind, "value": value, "verified": True}


def plain(kind: str, value: str) -> dict[str, Any]:
    return {"type": kind, "value": value}


# Ann browses anonymously on her phone, then on the tablet app as herself; logging in on the
# web with the phone's cookie stitches the anonymous profile into hers (a merge). She buys on
# the laptop, pays the courier cash, and calls support about the order from her mobile.
ANN_EARLY = [
    ev("ann-0", "email", "feedback", "2026-03-01T10:00:00Z", verified("customer_id", "ANN-1"),
       plain("email", "Ann@Example.com")),
]
ANN = [
    ev("ann-1", "web", "compare", "2026-05-04T08:10:00Z", plain("cookie_id", "ck-ann"),
       device={"id": "ann-phone"}, refs={"product_id": "BIKE"}),
    ev("ann-2", "app", "inform", "2026-05-04T08:30:00Z", verified("customer_id", "ANN-1"),
       plain("email", "Ann@Example.com"), device={"id": "ann-tablet"}),
    ev("ann-3", "web", "identify", "2026-05-04T09:00:00Z", verified("customer_id", "ANN-1"),
       plain("cookie_id", "ck-ann")),
    ev("ann-4", "web", "purchase", "2026-05-04T09:10:00Z", verified("customer_id", "ANN-1"),
       device={"id": "ann-laptop"}, refs={"order_id": "A-1", "product_id": "BIKE"},
       outcome="completed"),
    ev("ann-5", "courier", "pay", "2026-05-06T11:30:00Z", refs={"order_id": "A-1"}),
    ev("ann-6", "voice", "support", "2026-05-06T15:00:00Z", plain("phone", "+39 333 123 4567"),
       refs={"order_id": "A-1"}),
]
ANN_VALUES = ("Ann@Example.com", "ann@example.com", "ck-ann", "ANN-1", "+39 333 123 4567",
              "+393331234567", "ann-phone", "ann-tablet", "ann-laptop")
# Other customers on the same installation: they must come through an erasure untouched.
OTHERS_EARLY = [
    ev("carl-1", "web", "inform", "2026-03-02T10:00:00Z", plain("email", "carl@example.com")),
]
OTHERS = [
    ev("bob-1", "email", "inform", "2026-05-04T10:00:00Z", plain("email", "bob@example.com")),
    ev("bob-2", "web", "compare", "2026-05-05T10:00:00Z", plain("email", "bob@example.com"),
       refs={"order_id": "B-1"}),
]


class Stages:
    """The worker's identity and journey stages on the deployment's Redis keys, clock in hand."""

    def __init__(self, redis: Redis, deployment: Deployment) -> None:
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.layout = KeyLayout(prefix=deployment.prefix, shards=deployment.partitions)
        topics = Topics(*(deployment.topic(t) for t in ("interactions", "resolved", "journeys",
                                                        "handoffs", "identities", "dlq")))
        self.identity = IdentityStage(CONFIG, PEPPER.encode(), redis, self.layout, topics,
                                      lambda: self.clock)
        self.journeys = JourneyStage(CONFIG, PEPPER.encode(), redis, self.layout, topics,
                                     lambda: self.clock)
        self.topics = topics
        self.offset = 0
        self.outputs: list[dict[str, Any]] = []
        self.customers: dict[str, str] = {}

    async def send(self, *events: dict[str, Any]) -> None:
        for event in events:
            self.clock = max(self.clock, datetime.fromisoformat(event["occurred_at"]))
            self.offset += 1
            first = await self.identity.process(
                [Incoming(orjson.dumps(event), None, self.topics.interactions, 0, self.offset)])
            resolved = [r for r in first if r.topic == self.topics.resolved]
            assert len(resolved) == 1, first
            self.customers[event["event_id"]] = orjson.loads(resolved[0].value)["c"]
            self.outputs += [orjson.loads(r.value) for r in first if r is not resolved[0]]
            second = await self.journeys.process(
                [Incoming(resolved[0].value, resolved[0].key, self.topics.resolved, 0, self.offset)])
            self.outputs += [orjson.loads(r.value) for r in second]

    async def sweep_at(self, moment: str) -> list[dict[str, Any]]:
        """An abandonment sweep whose outputs are never acknowledged: they stay in the outbox."""
        self.clock = datetime.fromisoformat(moment)
        return [orjson.loads(r.value) for r in await self.journeys.sweep(0)]


async def story(redis: Redis, deployment: Deployment) -> Stages:
    """Ann's and the others' interactions through the stages; one sweep in between leaves
    abandoned journeys of Ann and Carl in the outbox."""
    stages = Stages(redis, deployment)
    await stages.send(*ANN_EARLY, *OTHERS_EARLY)
    abandoned = await stages.sweep_at("2026-04-20T00:00:00Z")
    assert {e["subject"] for e in abandoned} == {stages.customers["ann-0"],
                                                 stages.customers["carl-1"]}
    await stages.send(*ANN, *OTHERS)
    return stages


def command(deployment: Deployment, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "journey_stitcher", *arguments],
                          env=deployment.env(), capture_output=True, text=True, timeout=120,
                          check=False)


async def dump(redis: Redis, prefix: str) -> dict[str, Any]:
    """Every key of the installation and its value, decoded for comparison."""
    found: dict[str, Any] = {}
    async for raw_key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        key = raw_key.decode()
        kind = (await redis.type(key)).decode()
        if kind == "string":
            found[key] = await redis.get(key)
        elif kind == "hash":
            found[key] = await redis.hgetall(key)
        elif kind == "zset":
            found[key] = dict(await redis.zrange(key, 0, -1, withscores=True))
        else:
            raise AssertionError(f"unexpected {kind} at {key}")
    return found


def hashed(kind: str, value: str) -> str:
    usable, _ = NORMALIZER.resolve((Identifier(kind, value),))
    return usable[0].value


def mentions(text: bytes | str, markers: list[str]) -> bool:
    data = text.encode() if isinstance(text, str) else text
    return any(marker.encode() in data for marker in markers)


def without(stored: dict[str, Any], markers: list[str]) -> dict[str, Any]:
    """`stored` minus every key, field or member that mentions one of `markers`."""
    kept: dict[str, Any] = {}
    for key, value in stored.items():
        if mentions(key, markers):
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if not mentions(k, markers)
                     and not mentions(v if isinstance(v, bytes) else b"", markers)}
            if not value:
                continue
        kept[key] = value
    return kept


@pytest.fixture
async def topics_ready(deployment: Deployment) -> None:
    """The installation's output topics exist, as the worker creates them."""
    await ensure_topics(deployment.bootstrap, [deployment.topic(t) for t in OUTPUT_TOPICS],
                        deployment.partitions)


async def test_show_prints_the_journeys_as_a_timeline(redis: Redis, deployment: Deployment) -> None:
    """Ann, found by her e-mail written another way: her profile, the anonymous profile merged
    into it, her journeys with their touches in event-time order, and exactly the handoffs the
    journey stage emitted marked; no raw identifier value anywhere in the output."""
    stages = await story(redis, deployment)
    survivor = stages.customers["ann-6"]
    alias = ids.customer_id("ann-1")
    assert survivor != alias

    result = command(deployment, "show", "--json", "email: ANN@example.COM ")
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    assert document["customer_id"] == survivor
    assert document["aliases"] == [alias]
    assert document["subject"] == f"email:{hashed('email', 'ann@example.com')[:8]}…"
    profile = document["profile"]
    assert profile["identifiers"]["email"] == [hashed("email", "ann@example.com")]
    assert profile["identifiers"]["phone"] == [hashed("phone", "+393331234567")]
    assert profile["references"] == {"order_id": 1}
    touches = {t["event_id"]: t for j in document["journeys"] for t in j["touches"]}
    assert sorted(touches) == ["ann-1", "ann-2", "ann-4", "ann-5", "ann-6"]  # ann-0 was abandoned
    for journey in document["journeys"]:
        times = [t["occurred_at"] for t in journey["touches"]]
        assert times == sorted(times)
    handoffs = {e["data"]["to"]["event_id"]: e["data"]["kind"] for e in stages.outputs
                if e["type"] == "journey.handoff" and e["subject"] == survivor}
    assert handoffs
    assert {eid: t["handoff"] for eid, t in touches.items() if t["handoff"]} == handoffs
    assert touches["ann-4"]["device_id"] == NORMALIZER.hash_device("ann-laptop")

    text = command(deployment, "show", "phone:+393331234567")
    assert text.returncode == 0, text.stderr
    assert survivor in text.stdout
    assert "<- handoff: web -> courier" in text.stdout
    for output in (result.stdout, text.stdout, result.stderr, text.stderr):
        assert not mentions(output, list(ANN_VALUES))

    by_alias = command(deployment, "show", alias)
    assert by_alias.returncode == 0, by_alias.stderr
    assert f"{alias} was merged into it" in by_alias.stdout
    by_order = command(deployment, "show", "--json", "order_id:A-1")
    assert orjson.loads(by_order.stdout)["customer_id"] == survivor


async def test_show_says_when_no_journey_is_left(redis: Redis, deployment: Deployment) -> None:
    """Carl's only journey was abandoned and left the state: his profile is shown, and a note
    says why there is no journey."""
    stages = Stages(redis, deployment)
    await stages.send(*OTHERS_EARLY)
    await stages.sweep_at("2026-04-20T00:00:00Z")
    result = command(deployment, "show", "email:carl@example.com")
    assert result.returncode == 0, result.stderr
    assert "no open or completed journey is in the state" in result.stdout


async def test_erase_removes_every_trace_and_tombstones_the_customer(
    redis: Redis, deployment: Deployment, topics_ready: None,
) -> None:
    """Erasing Ann removes every key, field and member that mentions her customer ids, her
    hashed identifiers, her order or her events; everything else is byte for byte what it was;
    tombstones for her and her merged alias arrive on the three output topics; her e-mail then
    starts a brand-new profile."""
    stages = await story(redis, deployment)
    survivor, alias = stages.customers["ann-6"], ids.customer_id("ann-1")
    ann_events = [e["event_id"] for e in [*ANN_EARLY, *ANN]]
    markers = [survivor, alias, *ann_events, "A-1",
               hashed("email", "ann@example.com"), hashed("cookie_id", "ck-ann"),
               hashed("customer_id", "ANN-1"), hashed("phone", "+393331234567"),
               *(NORMALIZER.hash_device(d) for d in ("ann-phone", "ann-tablet", "ann-laptop"))]
    before = await dump(redis, deployment.prefix)
    assert any(mentions(key, [survivor]) for key in before)
    outbox = deployment.prefix + ":{d0}:outbox"
    assert any(mentions(v, [survivor]) for v in before[outbox].values())

    result = command(deployment, "erase", "--yes", "--json", "customer_id:ANN-1")
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["customer_ids"] == [survivor, alias]
    assert summary["profiles"] == 2
    assert summary["identifiers"] == 4
    assert summary["references"] == 1
    assert summary["identity_records"] == len(ann_events)
    assert summary["outbox"] == 1
    assert summary["tombstones"] == 6
    assert not mentions(result.stdout + result.stderr, list(ANN_VALUES))

    after = await dump(redis, deployment.prefix)
    assert after == without(before, markers)
    # Bob's identity decision is still in its bucket
    assert any(b"bob-1" in fields for key, fields in after.items() if ":{idg}:r:" in key)

    records = await read_topics(deployment.bootstrap, [deployment.topic(t) for t in OUTPUT_TOPICS],
                                at_least=6, timeout=60)
    assert sorted((r.topic, r.key, r.value) for r in records) == sorted(
        (deployment.topic(t), cid.encode(), None) for t in OUTPUT_TOPICS for cid in (survivor, alias))

    gone = command(deployment, "show", "email:ann@example.com")
    assert gone.returncode == 1
    assert "no customer is stored under email:" in gone.stderr
    assert "Traceback" not in gone.stderr
    await stages.send(ev("ann-7", "web", "inform", "2026-05-07T10:00:00Z",
                         plain("email", "ann@example.com")))
    assert stages.customers["ann-7"] == ids.customer_id("ann-7")
    fresh = orjson.loads(command(deployment, "show", "--json", "email:ann@example.com").stdout)
    assert fresh["customer_id"] == ids.customer_id("ann-7")
    assert fresh["aliases"] == []
    assert [t["event_id"] for j in fresh["journeys"] for t in j["touches"]] == ["ann-7"]


async def test_erasing_by_the_alias_id_erases_the_survivor_too(
    redis: Redis, deployment: Deployment, topics_ready: None,
) -> None:
    """The anonymous profile's id reaches the customer it was merged into: both go."""
    stages = await story(redis, deployment)
    result = command(deployment, "erase", "--yes", ids.customer_id("ann-1"))
    assert result.returncode == 0, result.stderr
    assert f"erased customer {stages.customers['ann-6']}" in result.stdout
    assert "tombstones sent and acknowledged: 6" in result.stdout
    keys = [key async for key in redis.scan_iter(match=f"{deployment.prefix}:*")]
    assert not any(mentions(key, [stages.customers["ann-6"], ids.customer_id("ann-1")]) for key in keys)


async def test_a_concurrent_write_makes_the_erasure_start_again(
    redis: Redis, deployment: Deployment,
) -> None:
    """A worker resolving one more of Ann's interactions between the erasure's reads and its
    EXEC makes the EXEC fail; the second attempt erases her, that interaction included."""
    stages = await story(redis, deployment)
    subject = parse_subject("email:ann@example.com", CONFIG.catalog, NORMALIZER, hashing=True)

    async def interfere(attempt: int) -> None:
        if attempt == 1:
            await stages.send(ev("ann-8", "web", "inform", "2026-05-07T11:00:00Z",
                                 verified("customer_id", "ANN-1")))

    erased = await erase(redis, stages.layout, subject, before_commit=interfere)
    assert erased is not None
    assert erased.attempts == 2
    keys = [key.decode() async for key in redis.scan_iter(match=f"{deployment.prefix}:*")]
    assert not any(mentions(key, [stages.customers["ann-6"], "ann-8"]) for key in keys)


async def test_an_unknown_identifier_exits_1_with_a_message(
    redis: Redis, deployment: Deployment, topics_ready: None,
) -> None:
    """Nobody stored under the identifier: a one-line message and exit status 1, for both
    commands; nothing in Redis changes. A malformed one is a usage error (status 2)."""
    await Stages(redis, deployment).send(*OTHERS)
    before = await dump(redis, deployment.prefix)
    for arguments in (("show", "email:nobody@example.com"), ("erase", "--yes", "phone:+14155550123"),
                      ("show", "cus_000000000000000000000000")):
        result = command(deployment, *arguments)
        assert result.returncode == 1, result
        assert "no customer is stored under" in result.stderr
        assert "Traceback" not in result.stderr
        assert "nobody" not in result.stderr
    assert await dump(redis, deployment.prefix) == before
    malformed = command(deployment, "show", "shoe_size:42")
    assert malformed.returncode == 2
    assert "unknown identifier type 'shoe_size'" in malformed.stderr


async def test_a_consent_refusing_customer_is_found_and_erased_by_its_identifier(
    redis: Redis, deployment: Deployment, topics_ready: None,
) -> None:
    """Events that refused stitching live under an isolated customer keyed by their identifier
    (no profile in the graph): `show` finds its journey, `erase` removes it and tombstones it."""
    stages = Stages(redis, deployment)
    await stages.send(ev("dee-1", "web", "inform", "2026-05-04T10:00:00Z", plain("cookie_id", "ck-dee"),
                         consent={"stitching": False}))
    isolated = stages.customers["dee-1"]
    shown = orjson.loads(command(deployment, "show", "--json", "cookie_id:ck-dee").stdout)
    assert shown["customer_id"] == isolated
    assert shown["profile"] is None
    assert [t["event_id"] for j in shown["journeys"] for t in j["touches"]] == ["dee-1"]

    result = command(deployment, "erase", "--yes", "--json", "cookie_id:ck-dee")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["customer_ids"] == [isolated]
    assert await dump(redis, deployment.prefix) == {}


async def test_tombstones_can_be_sent_again_for_a_customer_id(
    deployment: Deployment, topics_ready: None,
) -> None:
    """After an erasure whose tombstones failed, `--tombstones-only cus_…` sends them (nothing
    in Redis needed); it takes a customer id only."""
    customer = ids.customer_id("gone-1")
    result = command(deployment, "erase", "--tombstones-only", customer)
    assert result.returncode == 0, result.stderr
    records = await read_topics(deployment.bootstrap, [deployment.topic(t) for t in OUTPUT_TOPICS],
                                at_least=3, timeout=60)
    assert sorted((r.topic, r.key, r.value) for r in records) == sorted(
        (deployment.topic(t), customer.encode(), None) for t in OUTPUT_TOPICS)
    refused = command(deployment, "erase", "--tombstones-only", "email:ann@example.com")
    assert refused.returncode == 2
    assert "takes a customer id" in refused.stderr
