"""Everything the worker keeps in Redis about one customer, found from a `Subject`.

A customer's footprint (README "State in Redis" for the layout):

* the surviving profile (`p:<id>`, reached by following `merged_into`) and the alias profiles
  merged into it, directly or through other aliases. Profiles keep no list of their aliases and
  the hot path has no reverse index, so aliases are found with a SCAN over the profile keys:
  an administrative command may walk the keyspace, the worker never does;
* the isolated customer of a consent-refusing identifier (SPEC §6.8), when it has state;
* the identifier and owned-reference owner keys (`o:…`) that point to any of those ids;
* each id's own hash-slot keys (`{<id>}:j`, `{<id>}:x:<week>`), found with a SCAN;
* the identity decision of every event in its outputs hashes or journeys: a field of a
  bucket hash (`r:<week>:<bucket>`) of the last three weeks, or a key of its own
  (`e:<event id>`, the layout before buckets);
* its members of the deadline sorted set and its entries of the abandonment outbox.

`collect` reads under WATCH on a transactional pipeline, so `erase` can queue its deletions
and a concurrent worker write to any watched key makes the EXEC fail instead of leaving half
a customer. The shard's deadline set and outbox are not watched (every customer of the shard
writes them); the worker only changes a customer's entries there in a transaction that also
writes that customer's watched state key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from journey_stitcher import ids
from journey_stitcher.identity.model import Profile
from journey_stitcher.journeys.model import CustomerJourneys
from journey_stitcher.ops.subject import Subject
from journey_stitcher.storage import codec
from journey_stitcher.storage.redis_state import KeyLayout, record_bucket, week_of

__all__ = ["Footprint", "collect"]

SCAN_COUNT = 1000
# A bucket of identity decisions lives 15 days after its week's last write
# (`worker.stages.RECORDS_RETENTION`), into the third week after its own: the buckets of
# this week and the three before can hold a decision.
RECORD_WEEKS = 4


@dataclass(slots=True)
class Footprint:
    """One customer's state: `survivor` first, then `aliases` (merged into it) and `isolated`
    (consent-refusing profiles of the subject's identifier); every key found for them."""

    survivor: str
    requested: str | None = None  # the customer id asked for, when it is an alias
    profile: Profile | None = None
    aliases: list[str] = field(default_factory=list)
    isolated: list[str] = field(default_factory=list)
    states: dict[str, CustomerJourneys] = field(default_factory=dict)
    profile_keys: list[str] = field(default_factory=list)
    owner_keys: dict[str, str] = field(default_factory=dict)  # key → the graph key it indexes
    state_keys: list[str] = field(default_factory=list)  # {<id>}:j
    outputs_keys: dict[str, int] = field(default_factory=dict)  # {<id>}:x:<week> → fields
    record_keys: list[str] = field(default_factory=list)  # e:<event id> (before buckets)
    record_fields: dict[str, list[str]] = field(default_factory=dict)  # r:<week>:<bucket> → fields
    deadlines: dict[str, list[str]] = field(default_factory=dict)  # sorted set → members
    outbox: dict[str, list[str]] = field(default_factory=dict)  # hash → fields

    @property
    def customer_ids(self) -> list[str]:
        return [self.survivor, *self.aliases, *self.isolated]

    def keys_to_delete(self) -> list[str]:
        return [*self.profile_keys, *self.owner_keys, *self.state_keys, *self.outputs_keys,
                *self.record_keys]


async def collect(pipe: Pipeline, redis: Redis, layout: KeyLayout, subject: Subject) -> Footprint | None:
    """The footprint of `subject`, read under WATCH on `pipe`; None when nothing is stored.
    SCANs run on `redis` (they only find key names; the keys found are then watched)."""
    start, isolated = await _starting_points(pipe, redis, layout, subject)
    if start is None and not isolated:
        return None
    footprint = Footprint(survivor=start or isolated.pop(0), isolated=isolated)
    if start is not None:
        await _graph(pipe, redis, layout, footprint, start)
    everyone = footprint.customer_ids
    events: set[str] = set()
    for cid in everyone:
        events |= await _customer(pipe, redis, layout, footprint, cid)
    await _records(pipe, redis, layout, footprint, events, set(everyone))
    await _shards(pipe, layout, footprint, set(everyone))
    return footprint


async def _starting_points(
    pipe: Pipeline, redis: Redis, layout: KeyLayout, subject: Subject
) -> tuple[str | None, list[str]]:
    """The customer id the subject names in the identity graph (or directly), and the
    isolated customer of its identifier when that one has state."""
    if subject.customer_id is not None:
        cid = subject.customer_id
        await pipe.watch(layout.profile(cid))
        known = await pipe.exists(layout.profile(cid)) or await _has_state(redis, layout, cid)
        return (cid if known else None), []
    assert subject.key is not None
    owner_key = layout.owner(subject.key)
    await pipe.watch(owner_key)
    owner = await pipe.get(owner_key)
    isolated = ids.isolated_customer_id(subject.key)
    with_state = [isolated] if await _has_state(redis, layout, isolated) else []
    return (_text(owner) if owner is not None else None), with_state


async def _graph(pipe: Pipeline, redis: Redis, layout: KeyLayout, footprint: Footprint, start: str) -> None:
    """Follow `start` to its survivor, find the aliases merged into it, the owner keys."""
    survivor, profile = await _follow(pipe, layout, start)
    footprint.survivor, footprint.profile = survivor, profile
    if survivor != start:
        footprint.requested = start
    aliases = await _aliases(pipe, redis, layout, survivor)
    footprint.aliases = sorted(aliases)
    graph_ids = {survivor, *aliases}
    footprint.profile_keys = [layout.profile(pid) for pid in footprint.aliases]
    if profile is not None:
        footprint.profile_keys.insert(0, layout.profile(survivor))
    indexed = [key for p in [profile, *aliases.values()] if p is not None for key in _graph_keys(p)]
    owner_keys = {layout.owner(key): key for key in dict.fromkeys(indexed)}
    if owner_keys:
        await pipe.watch(*owner_keys)
        values = await pipe.mget(list(owner_keys))
        footprint.owner_keys = {key: graph_key for (key, graph_key), value
                                in zip(owner_keys.items(), values, strict=True)
                                if value is not None and _text(value) in graph_ids}


async def _follow(pipe: Pipeline, layout: KeyLayout, start: str) -> tuple[str, Profile | None]:
    """The profile `start` was merged into, transitively (itself when not merged)."""
    seen: set[str] = set()
    current = start
    while True:
        seen.add(current)
        await pipe.watch(layout.profile(current))
        raw = await pipe.get(layout.profile(current))
        profile = codec.decode_profile(raw) if raw is not None else None
        if profile is None or profile.merged_into is None or profile.merged_into in seen:
            return current, profile
        current = profile.merged_into


async def _aliases(pipe: Pipeline, redis: Redis, layout: KeyLayout, survivor: str) -> dict[str, Profile]:
    """Profiles merged into `survivor`, directly or through another alias (SCAN)."""
    merged_into: dict[str, str] = {}
    pattern = glob_escape(layout.profile("")) + "*"
    async for keys in _scan(redis, pattern):
        for raw in await redis.mget(keys):
            if raw is not None and b'"m":null' not in raw:
                profile = codec.decode_profile(raw)
                if profile.merged_into is not None:
                    merged_into[profile.id] = profile.merged_into
    members = {survivor}
    grew = True
    while grew:
        found = {pid for pid, target in merged_into.items() if target in members}
        grew = not found <= members
        members |= found
    aliases = sorted(members - {survivor})
    if not aliases:
        return {}
    keys = [layout.profile(pid) for pid in aliases]
    await pipe.watch(*keys)
    values = await pipe.mget(keys)
    return {pid: codec.decode_profile(raw) for pid, raw in zip(aliases, values, strict=True)
            if raw is not None}


def _graph_keys(profile: Profile) -> list[str]:
    """The identity-graph keys a profile's identifiers and owned references are indexed by."""
    keys = [f"{kind}:{value}" for kind, values in profile.identifiers.items() for value in values]
    return keys + list(profile.refs)


async def _customer(
    pipe: Pipeline, redis: Redis, layout: KeyLayout, footprint: Footprint, cid: str
) -> set[str]:
    """The customer's own keys (journey state and outputs hashes, watched) and the ids of
    the events they mention."""
    state_key = layout.customer(cid)
    found = [key async for keys in _scan(redis, glob_escape(layout.customer(cid)[:-1]) + "*")
             for key in keys]
    outputs = sorted(key for key in found if key != state_key)
    await pipe.watch(state_key, *outputs)
    raw = await pipe.get(state_key)
    events: set[str] = set()
    if raw is not None:
        state = codec.decode_customer(raw)
        footprint.states[cid] = state
        footprint.state_keys.append(state_key)
        events |= {touch.event_id for journey in state.journeys for touch in journey.touches}
    for key in outputs:
        fields = [_text(f) for f in await pipe.hkeys(key)]
        if fields:
            footprint.outputs_keys[key] = len(fields)
            events |= set(fields)
    return events


async def _records(
    pipe: Pipeline, redis: Redis, layout: KeyLayout, footprint: Footprint, events: Iterable[str],
    owners: set[str],
) -> None:
    """The identity decisions of `events` that belong to one of `owners`: fields of the
    buckets of the weeks a bucket can still live (`RECORDS_RETENTION`), and keys of the
    layout before buckets. Watched: a bucket is also written by other customers' events,
    which at worst makes the erasure run again."""
    wanted = sorted(events)
    if not wanted:
        return
    this_week = week_of(datetime.now(UTC))
    weeks = {this_week - age for age in range(RECORD_WEEKS)}
    # and the weeks the customer's outputs were written in (the identity stage wrote the
    # decisions just before, perhaps in the week before), whatever the clock said then
    for key in footprint.outputs_keys:
        written = int(key.rsplit(":", 1)[1])
        weeks |= {written, written - 1}
    places = [(layout.records(week, record_bucket(event_id)), event_id)
              for event_id in wanted for week in sorted(weeks)]
    legacy = [layout.record(event_id) for event_id in wanted]
    await pipe.watch(*sorted({key for key, _e in places}), *legacy)
    async with redis.pipeline(transaction=False) as reads:  # one round trip
        for key, event_id in places:
            reads.hget(key, event_id)
        reads.mget(legacy)
        *values, old = await reads.execute()
    for (key, event_id), raw in zip(places, values, strict=True):
        if raw is not None and codec.decode_record(raw).customer_id in owners:
            footprint.record_fields.setdefault(key, []).append(event_id)
    footprint.record_keys = [key for key, raw in zip(legacy, old, strict=True)
                             if raw is not None and codec.decode_record(raw).customer_id in owners]


async def _shards(pipe: Pipeline, layout: KeyLayout, footprint: Footprint, owners: set[str]) -> None:
    """The customers' deadline entries and unacknowledged abandonment outputs."""
    for shard in sorted({layout.shard(cid) for cid in owners}):
        deadlines = layout.deadlines(shard)
        members = [_text(member) for cid in sorted(owners)
                   async for member, _score in pipe.zscan_iter(deadlines, match=glob_escape(cid) + "|*")]
        if members:
            footprint.deadlines[deadlines] = members
        outbox = layout.outbox(shard)
        stored = await pipe.hgetall(outbox)
        fields = [_text(key) for key, raw in stored.items() if orjson.loads(raw).get("subject") in owners]
        if fields:
            footprint.outbox[outbox] = fields


async def _has_state(redis: Redis, layout: KeyLayout, cid: str) -> bool:
    async for keys in _scan(redis, glob_escape(layout.customer(cid)[:-1]) + "*"):
        if keys:
            return True
    return False


async def _scan(redis: Redis, pattern: str) -> AsyncIterator[list[str]]:
    """Key names matching `pattern`, a page at a time."""
    cursor = 0
    while True:
        cursor, keys = await redis.scan(cursor, match=pattern, count=SCAN_COUNT)
        if keys:
            yield [_text(key) for key in keys]
        if cursor == 0:
            return


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis MATCH pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
