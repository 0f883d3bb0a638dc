"""Right to erasure (SPEC §10 `erase`): one customer's state removed, tombstones emitted.

Redis first, in one MULTI/EXEC under WATCH of every key the footprint read (`footprint`): a
worker writing the customer meanwhile makes EXEC fail and the whole footprint is read again,
so the customer is never half erased. Then a tombstone (key = customer id, null value) per
erased id to each output topic, acknowledged by every in-sync replica, so compacted downstream
topics forget the customer. If Kafka fails after Redis was erased, `erase --tombstones-only`
with the customer ids (printed) sends them again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from journey_stitcher.ops.footprint import Footprint, collect
from journey_stitcher.ops.subject import Subject
from journey_stitcher.storage.redis_state import KeyLayout

__all__ = ["Erased", "ErasureConflict", "erase", "send_tombstones"]

ATTEMPTS = 20


class ErasureConflict(RuntimeError):
    """Workers kept changing the customer during every attempt; nothing was erased."""


@dataclass(frozen=True, slots=True)
class Erased:
    """What one erasure removed (counts only: the values are personal data)."""

    customer_ids: tuple[str, ...]
    aliases: int
    isolated: int
    profiles: int
    identifiers: int
    references: int
    journeys: int
    journey_states: int
    outputs_hashes: int
    outputs: int
    identity_records: int
    deadlines: int
    outbox: int
    attempts: int

    @classmethod
    def of(cls, footprint: Footprint, attempts: int) -> Erased:
        references = sum(1 for key in footprint.owner_keys.values() if key.startswith("ref:"))
        return cls(
            customer_ids=tuple(footprint.customer_ids),
            aliases=len(footprint.aliases), isolated=len(footprint.isolated),
            profiles=len(footprint.profile_keys),
            identifiers=len(footprint.owner_keys) - references, references=references,
            journeys=sum(len(state.journeys) for state in footprint.states.values()),
            journey_states=len(footprint.state_keys), outputs_hashes=len(footprint.outputs_keys),
            outputs=sum(footprint.outputs_keys.values()),
            identity_records=len(footprint.record_keys)
            + sum(len(f) for f in footprint.record_fields.values()),
            deadlines=sum(len(m) for m in footprint.deadlines.values()),
            outbox=sum(len(f) for f in footprint.outbox.values()), attempts=attempts,
        )

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


# Called after the footprint was read and before EXEC: tests use it to write concurrently.
BeforeCommit = Callable[[int], Awaitable[None]]


async def erase(
    redis: Redis, layout: KeyLayout, subject: Subject, *, before_commit: BeforeCommit | None = None,
    attempts: int = ATTEMPTS,
) -> Erased | None:
    """Remove the subject's customer from Redis; None when nothing is stored for it."""
    for attempt in range(1, attempts + 1):
        async with redis.pipeline(transaction=True) as pipe:
            footprint = await collect(pipe, redis, layout, subject)
            if footprint is None:
                return None
            if before_commit is not None:
                await before_commit(attempt)
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            keys = footprint.keys_to_delete()
            if keys:
                pipe.delete(*keys)
            for key, members in footprint.deadlines.items():
                pipe.zrem(key, *members)
            for key, fields in footprint.outbox.items():
                pipe.hdel(key, *fields)
            for key, fields in footprint.record_fields.items():
                pipe.hdel(key, *fields)
            try:
                await pipe.execute()
            except WatchError:
                continue
        return Erased.of(footprint, attempt)
    raise ErasureConflict(f"the customer changed during each of {attempts} attempts; "
                          "nothing was erased: run the command again")


async def send_tombstones(
    bootstrap: str, options: dict[str, Any], topics: Sequence[str], customer_ids: Sequence[str],
) -> int:
    """A null-valued record keyed by each customer id to each topic; returns once every one
    is acknowledged (acks=all). `options`: the Kafka client security options."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **options)
    await producer.start()
    try:
        pending = [await producer.send(topic, key=cid.encode(), value=None)
                   for topic in topics for cid in customer_ids]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(pending)
