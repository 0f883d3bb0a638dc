"""The worker's two stages, driven batch by batch, independent of Faust.

`IdentityStage` resolves raw interactions against the identity graph in Redis and re-keys
them by customer id; `JourneyStage` applies the journey rules to the re-keyed stream and
sweeps idle journeys. Each `process_*` call returns the records to produce; the caller
sends them and acknowledges the input only after Kafka acknowledged those records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from journey_stitcher.config import StitcherConfig
from journey_stitcher.errors import InvalidInput
from journey_stitcher.identity.model import CloudEvent, Resolution
from journey_stitcher.identity.resolver import Keys
from journey_stitcher.interactions.model import Interaction
from journey_stitcher.interactions.parse import parse_document, parse_interaction
from journey_stitcher.journeys.model import CustomerJourneys
from journey_stitcher.stitcher import Core, normalizer_for
from journey_stitcher.storage import codec
from journey_stitcher.storage.redis_state import (
    WEEK,
    DecodedStates,
    KeyLayout,
    LoadedIdentityStore,
    LoadedJourneyStore,
    StateNotLoaded,
    customer_ttl,
    read_records,
    week_of,
    write_records,
)
from journey_stitcher.worker.records import OutgoingRecord, RecordHeaders, Topics, dead_letter

log = logging.getLogger(__name__)
T = TypeVar("T")

DEDUP_RETENTION = timedelta(days=7)
# An outputs hash (and a bucket of identity decisions) is written during one week and read
# during the next (`week_of`).
OUTPUTS_RETENTION = 2 * WEEK + timedelta(days=1)
RECORDS_RETENTION = OUTPUTS_RETENTION
STATE_CACHE_BYTES = 8 * 2**20  # JOURNEY_STITCHER_STATE_CACHE_MB's default
TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed Kafka record."""

    value: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int = 0  # when the interaction arrived (the record timestamp)
    headers: RecordHeaders = ()
    tombstone: bool = False  # the record had no value at all (`value` is then empty)

    def interaction(self, config: StitcherConfig) -> Interaction:
        """The interaction this record carries; `InvalidInput` when it carries none."""
        if self.tombstone:
            raise InvalidInput("invalid_json", "event: the record has no value (a Kafka "
                               "tombstone), so no JSON document")
        return parse_interaction(self.value, config)


class OutputObserver(Protocol):
    """Sees the output events a stage produced and the identifier entries it ignored (the
    worker's metrics, `ops.metrics`)."""

    def produced(self, events: Sequence[CloudEvent]) -> None: ...

    def dropped(self, identifiers: int) -> None: ...


class Retrying:
    """Runs a Redis unit of work until it succeeds: reruns on a lost optimistic race or a
    key it did not load, and backs off on transient failures. It never gives up: a batch
    is never skipped (SPEC §8)."""

    def __init__(self, initial: float = 0.05, ceiling: float = 10.0) -> None:
        self._initial = initial
        self._ceiling = ceiling
        self.conflicts = 0
        self.transient_failures = 0

    async def run(self, unit: Callable[[set[str]], Awaitable[T]]) -> T:
        extra: set[str] = set()
        delay = self._initial
        while True:
            try:
                return await unit(extra)
            except StateNotLoaded as missing:
                extra.add(missing.key)
            except WatchError:
                self.conflicts += 1
            except TRANSIENT as error:
                self.transient_failures += 1
                log.warning("redis unavailable (%s); retrying in %.2fs", type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._ceiling)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class _Stage:
    def __init__(
        self, config: StitcherConfig, pepper: bytes | None, redis: Redis, layout: KeyLayout,
        topics: Topics, clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self._config = config
        self._redis = redis
        self._layout = layout
        self._topics = topics
        self._clock = clock
        self._normalizer = normalizer_for(config, pepper)  # its caches outlive the batches
        self.retrying = Retrying()
        self.observer: OutputObserver | None = None

    def _observe(self, outputs: Sequence[CloudEvent]) -> None:
        if self.observer is not None and outputs:
            self.observer.produced(outputs)

    async def _profiles(self, pipe: Pipeline, store: LoadedIdentityStore, ids: Iterable[str]) -> None:
        """Load profiles and, transitively, the survivors they were merged into."""
        wanted = [pid for pid in dict.fromkeys(ids) if pid not in store.profiles]
        while wanted:
            keys = [self._layout.profile(pid) for pid in wanted]
            await pipe.watch(*keys)
            values = await pipe.mget(keys)
            following: list[str] = []
            for pid, raw in zip(wanted, values, strict=True):
                profile = codec.decode_profile(raw) if raw is not None else None
                store.profiles[pid] = profile
                if profile is not None and profile.merged_into is not None:
                    following.append(profile.merged_into)
            wanted = [pid for pid in dict.fromkeys(following) if pid not in store.profiles]


class IdentityStage(_Stage):
    """Resolves interactions and re-keys them by customer id."""

    async def process(self, batch: Sequence[Incoming]) -> list[OutgoingRecord]:
        records: list[OutgoingRecord] = []
        accepted: list[tuple[Incoming, Interaction, Keys]] = []
        core = Core.build(self._config, self._normalizer, LoadedIdentityStore(), LoadedJourneyStore())
        dropped = 0
        for message in batch:
            try:
                event = message.interaction(self._config)
            except InvalidInput as rejection:
                records.append(self._dead_letter(message, rejection))
                continue
            try:
                accepted.append((message, event, core.resolver.prepare(event)))
            except InvalidInput as rejection:  # no_identity: none of its identifiers was usable
                dropped += len(event.identifiers)
                records.append(self._dead_letter(message, rejection))
        if accepted:
            resolutions = await self.retrying.run(lambda extra: self._resolve(accepted, extra))
            for (message, _event, keys), resolution in zip(accepted, resolutions, strict=True):
                records += [self._topics.record(output) for output in resolution.outputs]
                records.append(self._resolved(message, resolution))
                if not resolution.duplicate:
                    dropped += keys.dropped
            self._observe([output for r in resolutions for output in r.outputs])
        if dropped and self.observer is not None:
            self.observer.dropped(dropped)
        return records

    async def _resolve(
        self, accepted: list[tuple[Incoming, Interaction, Keys]], extra: set[str]
    ) -> list[Resolution]:
        store = LoadedIdentityStore()
        core = Core.build(self._config, self._normalizer, store, LoadedJourneyStore())
        week = week_of(self._clock())
        async with self._redis.pipeline(transaction=True) as pipe:
            await self._load(pipe, store, accepted, extra, week)
            resolutions = [core.resolver.resolve(event, keys) for _m, event, keys in accepted]
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            self._write(pipe, store, week)
            await pipe.execute()
        return resolutions

    async def _load(
        self, pipe: Pipeline, store: LoadedIdentityStore,
        accepted: list[tuple[Incoming, Interaction, Keys]], extra: set[str], week: int,
    ) -> None:
        owner_keys = {i.key for _m, _e, keys in accepted for i in keys.identifiers}
        owner_keys |= {ref for _m, _e, keys in accepted for ref in keys.refs}
        owner_keys |= {key[2:] for key in extra if key.startswith("o:")}
        event_ids = {event.event_id for _m, event, _k in accepted}
        event_ids |= {key[2:] for key in extra if key.startswith("e:")}
        owners, ids = sorted(owner_keys), sorted(event_ids)
        keys = [self._layout.owner(k) for k in owners]
        await pipe.watch(*keys)
        values = await pipe.mget(keys)
        store.owners.update((k, _text(v) if v is not None else None)
                            for k, v in zip(owners, values, strict=True))
        # The decisions' buckets are not watched (every interaction of a bucket would make
        # the others' transactions fail): a decision is only written with what resolving
        # the interaction read, all watched, so two workers resolving the same interaction
        # either see each other's graph change (and rerun) or compute the same decision.
        found = await read_records(pipe, self._layout, ids, week)
        for event_id, raw in zip(ids, found, strict=True):
            store.records[event_id] = codec.decode_record(raw) if raw is not None else None
        # A redelivered interaction needs no profile: it keeps the customer it was resolved to.
        wanted = [v for v in store.owners.values() if v is not None]
        wanted += [key[2:] for key in extra if key.startswith("p:")]
        await self._profiles(pipe, store, wanted)

    def _write(self, pipe: Pipeline, store: LoadedIdentityStore, week: int) -> None:
        layout = self._layout
        for key, owner in store.changed_owners.items():
            pipe.set(layout.owner(key), owner)
        for profile in store.changed_profiles.values():
            pipe.set(layout.profile(profile.id), codec.encode_profile(profile))
        if store.new_records:
            decisions = {e: codec.encode_record(r) for e, r in store.new_records.items()}
            write_records(pipe, layout, decisions, week, RECORDS_RETENTION)

    def _resolved(self, message: Incoming, resolution: Resolution) -> OutgoingRecord:
        value = orjson.dumps({
            "c": resolution.customer_id, "m": resolution.merged_ids, "d": resolution.duplicate,
            "e": orjson.Fragment(message.value),
        })
        # Keeps the interaction's arrival time, so the journey stage can merge its partitions
        # back into arrival order too.
        return OutgoingRecord(self._topics.resolved, resolution.customer_id.encode(), value,
                              timestamp_ms=message.timestamp_ms or None)

    def _dead_letter(self, message: Incoming, rejection: InvalidInput) -> OutgoingRecord:
        return dead_letter(self._topics.dlq, message.value, message.key, rejection.reason,
                           rejection.message, message.topic, message.partition, message.offset,
                           message.headers)


class JourneyStage(_Stage):
    """Applies the journey rules to re-keyed interactions; sweeps idle journeys."""

    def __init__(
        self, config: StitcherConfig, pepper: bytes | None, redis: Redis, layout: KeyLayout,
        topics: Topics, clock: Callable[[], datetime] = _wall_clock,
        state_cache_bytes: int = STATE_CACHE_BYTES,
    ) -> None:
        super().__init__(config, pepper, redis, layout, topics, clock)
        self._states = DecodedStates(state_cache_bytes)

    @property
    def decoded_states(self) -> DecodedStates:
        """The customer states this stage keeps decoded between batches."""
        return self._states

    async def process(self, batch: Sequence[Incoming]) -> list[OutgoingRecord]:
        items = [(*self._decode(message), (message.partition, message.offset)) for message in batch]
        outputs = await self.retrying.run(lambda extra: self._apply(items, extra))
        self._observe(outputs)
        return [self._topics.record(output) for output in outputs]

    def _decode(self, message: Incoming) -> tuple[Interaction, Resolution]:
        envelope = orjson.loads(message.value)
        event = parse_document(envelope["e"], self._config)
        return event, Resolution(envelope["c"], (), tuple(envelope["m"]), envelope["d"])

    async def _apply(self, items: list[_Item], extra: set[str]) -> list[CloudEvent]:
        now = self._clock()
        journeys = LoadedJourneyStore()
        core = Core.build(self._config, self._normalizer, LoadedIdentityStore(), journeys)
        async with self._redis.pipeline(transaction=True) as pipe:
            wanted = {r.customer_id for _e, r, _p in items}
            wanted |= {key[2:] for key in extra if key.startswith("j:")}
            # Stored outputs are read for the interactions the identity stage saw before;
            # the others only when their customer's state cannot rule out a redelivery.
            lookups = {(r.customer_id, e.event_id) for e, r, _p in items if r.duplicate}
            lookups |= {_pair(key[2:]) for key in extra if key.startswith("x:")}
            fresh = {(r.customer_id, e.event_id): p for e, r, p in items if not r.duplicate}
            whole = {m for _e, r, _p in items for m in r.merged_ids}
            whole |= {key[2:] for key in extra if key.startswith("a:")}
            await self._load(pipe, journeys, now, wanted, lookups, whole, fresh)
            outputs: list[CloudEvent] = []
            for event, resolution, position in items:
                outputs += core.engine.apply(event, resolution, now)
                _advance(journeys, resolution.customer_id, position)
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            written = self._write(pipe, journeys, now)
            await pipe.execute()
        self._remember(journeys, written)
        return outputs

    def _remember(self, store: LoadedJourneyStore, written: dict[str, bytes]) -> None:
        for cid, raw in written.items():
            state = store.customers[cid]
            assert state is not None
            self._states.remember(cid, raw, state)

    async def _load(
        self, pipe: Pipeline, store: LoadedJourneyStore, now: datetime, customer_ids: Iterable[str],
        lookups: Iterable[tuple[str, str]] = (), whole: Iterable[str] = (),
        fresh: dict[tuple[str, str], tuple[int, int]] | None = None,
    ) -> None:
        """Load the customers, the outputs of the (customer, event) pairs asked for and every
        output of the `whole` customers; then follow merge tombstones the same way, so the
        rules find the survivors (and their outputs for those events) already loaded instead
        of asking for them one rerun at a time. The `fresh` pairs, with the re-keyed record's
        (partition, offset), are read only if the customer's state cannot rule them out."""
        wanted: dict[str, list[str]] = {}
        for cid, event_id in sorted(set(lookups)):
            wanted.setdefault(cid, []).append(event_id)
        maybe: dict[str, list[tuple[str, tuple[int, int]]]] = {}
        for (cid, event_id), position in sorted((fresh or {}).items()):
            if event_id not in wanted.get(cid, ()):
                maybe.setdefault(cid, []).append((event_id, position))
        complete = sorted(set(whole))
        ids = sorted(set(customer_ids) | wanted.keys() | maybe.keys() | set(complete))
        while ids:
            await self._read(pipe, store, now, ids, wanted, complete)
            if maybe:
                await self._rule_out(store, now, maybe, wanted)
                maybe = {}
            following: dict[str, set[str]] = {}
            for cid in ids:
                state = store.customers.get(cid)
                if state is not None and state.merged_into is not None \
                        and state.merged_into not in store.customers:
                    following.setdefault(state.merged_into, set()).update(wanted.get(cid, ()))
            wanted = {cid: sorted(events) for cid, events in following.items() if events}
            ids, complete = sorted(following), []

    async def _read(
        self, pipe: Pipeline, store: LoadedJourneyStore, now: datetime, ids: list[str],
        wanted: dict[str, list[str]], complete: list[str],
    ) -> None:
        """Watch the customers' state keys, then read the states and the outputs asked for
        in one round trip (the outputs need no WATCH of their own: they only ever change in
        a transaction that also writes their customer's state key)."""
        layout = self._layout
        keys = [layout.customer(cid) for cid in ids]
        await pipe.watch(*keys)
        weeks = (week_of(now), week_of(now) - 1)
        async with self._redis.pipeline(transaction=False) as reads:
            reads.mget(keys)
            self._ask_outputs(reads, wanted, weeks)
            for cid in complete:
                for week in weeks:
                    reads.hgetall(layout.emitted(cid, week))
            results = iter(await reads.execute())
        for cid, raw in zip(ids, next(results), strict=True):
            store.customers[cid] = self._states.decode(cid, raw) if raw is not None else None
        self._store_outputs(store, wanted, results)
        for cid in complete:
            current, previous = next(results), next(results)
            merged = {**previous, **current}
            store.everything[cid] = {_text(e): codec.decode_outputs(raw) for e, raw in merged.items()}

    async def _rule_out(
        self, store: LoadedJourneyStore, now: datetime,
        maybe: dict[str, list[tuple[str, tuple[int, int]]]], wanted: dict[str, list[str]],
    ) -> None:
        """Record as new the interactions their customer's state shows were never applied;
        read the stored outputs of the others (adding them to `wanted`, so that a merge
        tombstone is followed with them)."""
        unsure: dict[str, list[str]] = {}
        for cid, pairs in maybe.items():
            state = store.customers[cid]
            for event_id, position in pairs:
                if _never_applied(state, position):
                    store.outputs[(cid, event_id)] = None
                else:
                    unsure.setdefault(cid, []).append(event_id)
        if unsure:
            await self._outputs_of(store, now, unsure)
            for cid, events in unsure.items():
                wanted[cid] = sorted({*wanted.get(cid, ()), *events})

    async def _outputs_of(self, store: LoadedJourneyStore, now: datetime,
                          wanted: dict[str, list[str]]) -> None:
        async with self._redis.pipeline(transaction=False) as reads:
            self._ask_outputs(reads, wanted, (week_of(now), week_of(now) - 1))
            results = iter(await reads.execute())
        self._store_outputs(store, wanted, results)

    def _ask_outputs(self, reads: Pipeline, wanted: dict[str, list[str]],
                     weeks: tuple[int, int]) -> None:
        """Queue the reads of the stored outputs of `wanted` (this week's hash, then last
        week's), which `_store_outputs` takes back from the replies in that order."""
        for cid, events in wanted.items():
            for week in weeks:
                reads.hmget(self._layout.emitted(cid, week), events)

    @staticmethod
    def _store_outputs(store: LoadedJourneyStore, wanted: dict[str, list[str]],
                       results: Iterator[Any]) -> None:
        for cid, events in wanted.items():
            current, previous = next(results), next(results)
            for event_id, this_week, last_week in zip(events, current, previous, strict=True):
                raw = this_week if this_week is not None else last_week
                store.outputs[(cid, event_id)] = codec.decode_outputs(raw) if raw is not None else None

    def _write(self, pipe: Pipeline, store: LoadedJourneyStore, now: datetime) -> dict[str, bytes]:
        """Queue the batch's writes; the customers' new values, by customer id."""
        layout = self._layout
        windows = {f.id: f.window for f in self._config.catalog.families.values()}
        written: dict[str, bytes] = {}
        for cid in store.changed:
            state = store.customers[cid]
            assert state is not None  # only put_customer marks a customer changed
            ttl = customer_ttl(state, now, DEDUP_RETENTION, windows)
            written[cid] = codec.encode_customer(state)
            pipe.set(layout.customer(cid), written[cid], px=_millis(ttl))
        emitted: dict[str, dict[str, bytes]] = {}
        for (cid, event_id), outputs in store.new_outputs.items():
            emitted.setdefault(cid, {})[event_id] = codec.encode_outputs(outputs)
        week = week_of(now)
        for cid, fields in emitted.items():
            key = layout.emitted(cid, week)
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # bytes values are fine
            pipe.pexpire(key, _millis(OUTPUTS_RETENTION))
        # One ZADD and one ZREM per shard, not per journey: each command costs a reply.
        added: dict[str, dict[str, int]] = {}
        removed: dict[str, list[str]] = {}
        for (cid, jid), deadline in store.deadlines.items():
            key = layout.deadlines(layout.shard(cid))
            if deadline is None:
                removed.setdefault(key, []).append(f"{cid}|{jid}")
            else:
                added.setdefault(key, {})[f"{cid}|{jid}"] = codec.to_micros(deadline)
        for key, members in removed.items():
            pipe.zrem(key, *members)
        for key, scores in added.items():
            pipe.zadd(key, scores)
        return written

    # -- abandonment --------------------------------------------------------------------

    async def sweep(self, shard: int, limit: int = 500) -> list[OutgoingRecord]:
        """Expire the idle journeys of one deadline shard; their outputs go to the outbox
        in the same transaction, so they survive a crash until `acknowledge` removes them."""
        outputs = await self.retrying.run(lambda extra: self._sweep(shard, limit))
        self._observe(outputs)
        return [self._topics.record(output) for output in outputs]

    async def _sweep(self, shard: int, limit: int) -> list[CloudEvent]:
        now = self._clock()
        key = self._layout.deadlines(shard)
        due = await self._redis.zrangebyscore(key, "-inf", codec.to_micros(now), start=0, num=limit)
        if not due:
            return []
        members = [_text(m) for m in due]
        journeys = LoadedJourneyStore()
        core = Core.build(self._config, self._normalizer, LoadedIdentityStore(), journeys)
        async with self._redis.pipeline(transaction=True) as pipe:
            customers = sorted({m.split("|", 1)[0] for m in members})
            await self._load(pipe, journeys, now, customers)
            outputs: list[CloudEvent] = []
            for cid in customers:
                outputs += core.engine.expire_customer(cid, now)
            stale = [m for m in members if not self._still_open(journeys, m)]
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            written = self._write(pipe, journeys, now)
            if stale:
                pipe.zrem(key, *stale)
            if outputs:
                pipe.hset(self._layout.outbox(shard),
                          mapping={e["id"]: orjson.dumps(e) for e in outputs})
            await pipe.execute()
        self._remember(journeys, written)
        return outputs

    @staticmethod
    def _still_open(store: LoadedJourneyStore, member: str) -> bool:
        cid, jid = member.split("|", 1)
        state = store.customers.get(cid)
        return state is not None and state.journey(jid) is not None

    async def pending(self, shard: int) -> list[OutgoingRecord]:
        """Outputs of earlier sweeps not yet acknowledged (a crash came in between)."""
        stored = await self._redis.hvals(self._layout.outbox(shard))
        return [self._topics.record(orjson.loads(raw)) for raw in stored]

    async def acknowledge(self, shard: int, records: Sequence[OutgoingRecord]) -> None:
        """Kafka acknowledged `records`: they leave the outbox."""
        if records:
            ids = [orjson.loads(r.value)["id"] for r in records]
            await self._redis.hdel(self._layout.outbox(shard), *ids)


_Item = tuple[Interaction, Resolution, tuple[int, int]]  # with the re-keyed (partition, offset)


def _never_applied(state: CustomerJourneys | None, position: tuple[int, int]) -> bool:
    """Whether the re-keyed record at `position` cannot have been applied before: its
    customer has no state (not even a merge tombstone: a customer's state outlives the
    dedup retention), or the state last applied an earlier offset of the same partition.
    Offsets only grow within a partition, and the state and the outputs of an interaction
    are written in one transaction. Anything else (an older state without a position, a
    tombstone, another partition after the topic was resized) is looked up."""
    if state is None:
        return True
    last = state.position
    return state.merged_into is None and last is not None \
        and last[0] == position[0] and position[1] > last[1]


def _advance(store: LoadedJourneyStore, customer_id: str, position: tuple[int, int]) -> None:
    """The customer's state, written in this batch, has applied the record at `position`."""
    state = store.customers.get(customer_id)
    if state is None or state.merged_into is not None or customer_id not in store.changed:
        return
    last = state.position
    if last is None or last[0] != position[0] or last[1] < position[1]:
        state.position = position


def _pair(text: str) -> tuple[str, str]:
    customer_id, _, event_id = text.partition("|")
    return customer_id, event_id


def _text(value: bytes | str | object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _millis(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() * 1000))

