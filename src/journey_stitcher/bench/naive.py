"""The naive variant of `make bench`: the same rules, one awaited Redis call per read and
per write.

It is the worker (`worker.app`, same Faust wiring, batching, arrival order and sends) with
stages that process each interaction on its own and reach Redis the straightforward way:
the core runs against an empty store, and every key it asks for is fetched with its own
awaited GET (HGET, HGETALL) before the core runs again; every key it changed is then
written with its own awaited SET (HSET, ZADD, …). No pipelining, no WATCH/MULTI, no
batching of state across interactions. Run with `python -m journey_stitcher.bench.naive`,
configured like the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from journey_stitcher.config import load_config
from journey_stitcher.errors import InvalidInput
from journey_stitcher.identity.model import CloudEvent, Resolution
from journey_stitcher.interactions.model import Interaction
from journey_stitcher.settings import Settings
from journey_stitcher.stitcher import Core
from journey_stitcher.storage import codec
from journey_stitcher.storage.redis_state import (
    LoadedIdentityStore,
    LoadedJourneyStore,
    StateNotLoaded,
    customer_ttl,
    read_records,
    week_of,
    write_records,
)
from journey_stitcher.worker.app import run_worker
from journey_stitcher.worker.records import OutgoingRecord
from journey_stitcher.worker.stages import (
    DEDUP_RETENTION,
    OUTPUTS_RETENTION,
    RECORDS_RETENTION,
    IdentityStage,
    Incoming,
    JourneyStage,
    _millis,
    _pair,
    _text,
)


class NaiveIdentityStage(IdentityStage):
    async def process(self, batch: Sequence[Incoming]) -> list[OutgoingRecord]:
        records: list[OutgoingRecord] = []
        for message in batch:
            try:
                event = message.interaction(self._config)
            except InvalidInput as rejection:
                records.append(self._dead_letter(message, rejection))
                continue
            resolution = await self._resolve_one(event)
            records += [self._topics.record(output) for output in resolution.outputs]
            records.append(self._resolved(message, resolution))
            self._observe(resolution.outputs)
        return records

    async def _resolve_one(self, event: Interaction) -> Resolution:
        fetched: dict[str, bytes | str | None] = {}
        while True:
            store = self._rebuild(fetched)
            core = Core.build(self._config, self._normalizer, store, LoadedJourneyStore())
            try:
                resolution = core.resolver.resolve(event, core.resolver.prepare(event))
            except StateNotLoaded as missing:  # one awaited GET per key the rules read
                kind, _, name = missing.key.partition(":")
                if kind == "e":  # one call too: a script reading the decision's buckets
                    week = week_of(self._clock())
                    fetched[missing.key] = (await read_records(self._redis, self._layout, [name], week))[0]
                    continue
                key = {"o": self._layout.owner, "p": self._layout.profile}[kind](name)
                fetched[missing.key] = await self._redis.get(key)
                continue
            await self._write_each(store)
            return resolution

    @staticmethod
    def _rebuild(fetched: dict[str, bytes | str | None]) -> LoadedIdentityStore:
        store = LoadedIdentityStore()
        for key, raw in fetched.items():
            kind, _, name = key.partition(":")
            if kind == "o":
                store.owners[name] = _text(raw) if raw is not None else None
            elif kind == "p":
                store.profiles[name] = codec.decode_profile(raw) if raw is not None else None
            else:
                store.records[name] = codec.decode_record(raw) if raw is not None else None
        return store

    async def _write_each(self, store: LoadedIdentityStore) -> None:
        layout, redis = self._layout, self._redis
        for key, owner in store.changed_owners.items():
            await redis.set(layout.owner(key), owner)
        for profile in store.changed_profiles.values():
            await redis.set(layout.profile(profile.id), codec.encode_profile(profile))
        for event_id, record in store.new_records.items():
            await write_records(redis, layout, {event_id: codec.encode_record(record)},
                                week_of(self._clock()), RECORDS_RETENTION)


class NaiveJourneyStage(JourneyStage):
    async def process(self, batch: Sequence[Incoming]) -> list[OutgoingRecord]:
        records: list[OutgoingRecord] = []
        for message in batch:
            event, resolution = self._decode(message)
            outputs = await self._apply_one(event, resolution, self._clock())
            records += [self._topics.record(output) for output in outputs]
            self._observe(outputs)
        return records

    async def _apply_one(self, event: Interaction, resolution: Resolution, now: datetime) -> list[CloudEvent]:
        fetched: dict[str, object] = {}
        while True:
            store = self._rebuild(fetched)
            core = Core.build(self._config, self._normalizer, LoadedIdentityStore(), store)
            try:
                outputs = core.engine.apply(event, resolution, now)
            except StateNotLoaded as missing:  # one awaited read per key the rules read
                fetched[missing.key] = await self._fetch(missing.key, now)
                continue
            await self._write_each(store, now)
            return outputs

    async def _fetch(self, key: str, now: datetime) -> object:
        kind, _, name = key.partition(":")
        layout, redis = self._layout, self._redis
        week = week_of(now)
        if kind == "j":
            return await redis.get(layout.customer(name))
        if kind == "x":
            cid, event_id = _pair(name)
            raw = await redis.hget(layout.emitted(cid, week), event_id)
            if raw is None:
                raw = await redis.hget(layout.emitted(cid, week - 1), event_id)
            return raw
        return {**await redis.hgetall(layout.emitted(name, week - 1)),
                **await redis.hgetall(layout.emitted(name, week))}

    @staticmethod
    def _rebuild(fetched: dict[str, object]) -> LoadedJourneyStore:
        store = LoadedJourneyStore()
        for key, raw in fetched.items():
            kind, _, name = key.partition(":")
            if kind == "j":
                store.customers[name] = codec.decode_customer(raw) if raw is not None else None  # type: ignore[arg-type]
            elif kind == "x":
                store.outputs[_pair(name)] = codec.decode_outputs(raw) if raw is not None else None  # type: ignore[arg-type]
            else:
                assert isinstance(raw, dict)
                store.everything[name] = {_text(e): codec.decode_outputs(v) for e, v in raw.items()}
        return store

    async def _write_each(self, store: LoadedJourneyStore, now: datetime) -> None:
        layout, redis = self._layout, self._redis
        windows = {f.id: f.window for f in self._config.catalog.families.values()}
        for cid in store.changed:
            state = store.customers[cid]
            assert state is not None
            ttl = customer_ttl(state, now, DEDUP_RETENTION, windows)
            await redis.set(layout.customer(cid), codec.encode_customer(state), px=_millis(ttl))
        for (cid, event_id), outputs in store.new_outputs.items():
            key = layout.emitted(cid, week_of(now))
            await redis.hset(key, event_id, codec.encode_outputs(outputs))
            await redis.pexpire(key, _millis(OUTPUTS_RETENTION))
        for (cid, jid), deadline in store.deadlines.items():
            key = layout.deadlines(layout.shard(cid))
            if deadline is None:
                await redis.zrem(key, f"{cid}|{jid}")
            else:
                await redis.zadd(key, {f"{cid}|{jid}": codec.to_micros(deadline)})


def main() -> None:
    settings = Settings()
    run_worker(settings, load_config(settings.config), (NaiveIdentityStage, NaiveJourneyStage))


if __name__ == "__main__":
    main()
