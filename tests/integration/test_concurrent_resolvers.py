"""Several identity stages resolving events that share identifiers, at the same moment,
on one Redis: optimistic transactions keep the identity graph consistent."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from journey_stitcher.config import load_config
from journey_stitcher.stitcher import Stitcher
from journey_stitcher.storage import codec
from journey_stitcher.storage.memory import MemoryIdentityStore
from journey_stitcher.storage.redis_state import KeyLayout
from journey_stitcher.worker.records import Topics
from journey_stitcher.worker.stages import IdentityStage, Incoming

pytestmark = pytest.mark.integration

PEPPER = b"concurrency-pepper"
CONFIG = load_config(None)
TOPICS = Topics("in", "resolved", "journeys", "handoffs", "identities", "dlq")


def person_identifiers(n: int) -> list[dict[str, Any]]:
    return [
        {"type": "customer_id", "value": f"CRM-{n}", "verified": True},
        {"type": "email", "value": f"person{n}@example.org", "verified": True},
        {"type": "phone", "value": f"+3934700{n:05d}", "verified": True},
        {"type": "cookie_id", "value": f"cookie-{n}-a", "verified": True},
        {"type": "device_id", "value": f"device-{n}", "verified": True},
    ]


def events(people: int, per_person: int, rng: random.Random) -> list[bytes]:
    lines = []
    for n in range(people):
        ids = person_identifiers(n)
        for k in range(per_person):
            # Every link verified: then the grouping cannot depend on the order (§6.5).
            subset = rng.sample(ids, rng.randint(1, 3))
            lines.append(orjson.dumps({
                "event_id": f"p{n}-e{k}", "occurred_at": f"2026-06-01T10:{k:02d}:00Z",
                "channel": "web", "touchpoint": "inform", "identifiers": subset,
            }))
    rng.shuffle(lines)
    return lines


async def test_concurrent_resolvers_never_split_or_lose_links(endpoints: tuple[str, str]) -> None:
    """Four resolvers racing on shared identifiers leave every identifier owned by exactly
    one live profile, every link in place, and the same grouping as one resolver alone."""
    rng = random.Random(7)
    layout = KeyLayout(prefix=f"race-{uuid.uuid4().hex[:8]}", shards=1)
    lines = events(people=40, per_person=12, rng=rng)
    clients = [Redis.from_url(endpoints[1]) for _ in range(4)]
    stages = [IdentityStage(CONFIG, PEPPER, client, layout, TOPICS) for client in clients]

    async def run(stage: IdentityStage, share: list[bytes]) -> None:
        for start in range(0, len(share), 8):
            batch = [Incoming(raw, None, "in", 0, start + i) for i, raw in enumerate(share[start:start + 8])]
            await stage.process(batch)

    try:
        await asyncio.gather(*(run(stage, lines[i::4]) for i, stage in enumerate(stages)))
        conflicts = sum(stage.retrying.conflicts for stage in stages)
        owners, profiles = await _graph(clients[0], layout)
    finally:
        for client in clients:
            await client.aclose()

    assert conflicts > 0, "the resolvers never raced: the test proves nothing"
    live = {pid: p for pid, p in profiles.items() if p.merged_into is None}
    linked: dict[str, str] = {}
    for pid, profile in live.items():
        for kind, values in profile.identifiers.items():
            for value in values:
                key = f"{kind}:{value}"
                assert key not in linked, f"{key} is on two live profiles"
                linked[key] = pid
    assert linked == owners  # both directions agree: no link lost, none dangling
    assert _partition(owners) == _partition(sequential_owners(lines))


def sequential_owners(lines: list[bytes]) -> dict[str, str]:
    """The identity graph one stitcher builds from the same events, one at a time."""
    stitcher = Stitcher(CONFIG, PEPPER)
    for raw in lines:
        stitcher.process_line(raw)
    graph = stitcher.identities
    assert isinstance(graph, MemoryIdentityStore)
    return {key: stitcher.core.resolver.follow(pid)
            for key, pid in graph.owners.items() if not key.startswith("ref:")}


def _partition(owners: dict[str, str]) -> set[frozenset[str]]:
    """Which identifiers ended up together, whatever the profile ids."""
    groups: dict[str, set[str]] = defaultdict(set)
    for key, pid in owners.items():
        groups[pid].add(key)
    return {frozenset(group) for group in groups.values()}


async def _graph(redis: Redis, layout: KeyLayout) -> tuple[dict[str, str], dict[str, Any]]:
    owners: dict[str, str] = {}
    profiles: dict[str, Any] = {}
    owner_prefix, profile_prefix = layout.owner(""), layout.profile("")
    async for key in redis.scan_iter(match=f"{layout.prefix}:*"):
        name = key.decode()
        if name.startswith(owner_prefix):
            owners[name[len(owner_prefix):]] = (await redis.get(key)).decode()
        elif name.startswith(profile_prefix):
            profiles[name[len(profile_prefix):]] = codec.decode_profile(await redis.get(key))
    return owners, profiles
