"""Journey-stitcher state in Redis: the key layout and batch-sized units of work.

A batch of events is processed in three steps: load every key it needs (pipelined MGETs,
under WATCH), run the pure core on in-memory copies (`LoadedIdentityStore`,
`LoadedJourneyStore`), and write all changes back in one MULTI/EXEC. A concurrent writer
makes EXEC fail (WatchError) and the batch is simply run again on fresh state; nothing
has been sent by then. Dedup needs no extra key: a customer's processed event ids and
their outputs live inside the customer's state value, so they change in the same write.

Key layout (`js` is the configurable prefix; `{…}` is the Redis Cluster hash tag):

    js:{idg}:o:<type>:<hash>      identifier → owning profile id           (no TTL)
    js:{idg}:o:ref:<name>:<value> owned reference → owning profile id      (no TTL)
    js:{idg}:p:<customer id>      profile (identifiers, refs, alias)        (no TTL)
    js:{idg}:e:<event id>         identity decision of one interaction      (dedup TTL)
    js:{<customer id>}:j          journeys, processed event ids and outputs (window TTL)
    js:{d<shard>}:deadlines       sorted set "customer|journey" by deadline (µs)
    js:{d<shard>}:outbox          abandonment outputs written but not yet acknowledged

The identity graph shares one hash slot so that one optimistic transaction can cover
every identifier an event touches; journey state is spread by customer.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from journey_stitcher.identity.model import IdentityRecord, Profile
from journey_stitcher.journeys.model import CustomerJourneys


class StateNotLoaded(LookupError):
    """The core asked for a key the batch did not load; the driver loads it and reruns."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Names of every Redis key journey-stitcher uses."""

    prefix: str = "js"
    shards: int = 8

    def owner(self, key: str) -> str:
        return f"{self.prefix}:{{idg}}:o:{key}"

    def profile(self, profile_id: str) -> str:
        return f"{self.prefix}:{{idg}}:p:{profile_id}"

    def record(self, event_id: str) -> str:
        return f"{self.prefix}:{{idg}}:e:{event_id}"

    def customer(self, customer_id: str) -> str:
        return f"{self.prefix}:{{{customer_id}}}:j"

    def shard(self, customer_id: str) -> int:
        return zlib.crc32(customer_id.encode()) % self.shards

    def deadlines(self, shard: int) -> str:
        return f"{self.prefix}:{{d{shard}}}:deadlines"

    def outbox(self, shard: int) -> str:
        return f"{self.prefix}:{{d{shard}}}:outbox"


@dataclass(slots=True)
class LoadedIdentityStore:
    """The part of the identity graph a batch loaded, and what the batch changed."""

    owners: dict[str, str | None] = field(default_factory=dict)
    profiles: dict[str, Profile | None] = field(default_factory=dict)
    records: dict[str, IdentityRecord | None] = field(default_factory=dict)
    changed_owners: dict[str, str] = field(default_factory=dict)
    changed_profiles: dict[str, Profile] = field(default_factory=dict)
    new_records: dict[str, IdentityRecord] = field(default_factory=dict)

    def owner(self, key: str) -> str | None:
        if key not in self.owners:
            raise StateNotLoaded(f"o:{key}")
        return self.owners[key]

    def set_owner(self, key: str, profile_id: str) -> None:
        self.owners[key] = profile_id
        self.changed_owners[key] = profile_id

    def profile(self, profile_id: str) -> Profile | None:
        if profile_id not in self.profiles:
            raise StateNotLoaded(f"p:{profile_id}")
        return self.profiles[profile_id]

    def put_profile(self, profile: Profile) -> None:
        self.profiles[profile.id] = profile
        self.changed_profiles[profile.id] = profile

    def record(self, event_id: str) -> IdentityRecord | None:
        if event_id not in self.records:
            raise StateNotLoaded(f"e:{event_id}")
        return self.records[event_id]

    def put_record(self, event_id: str, record: IdentityRecord) -> None:
        self.records[event_id] = record
        self.new_records[event_id] = record


@dataclass(slots=True)
class LoadedJourneyStore:
    """The customers a batch loaded, and the state and deadline changes it made."""

    customers: dict[str, CustomerJourneys | None] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    deadlines: dict[tuple[str, str], datetime | None] = field(default_factory=dict)

    def customer(self, customer_id: str) -> CustomerJourneys | None:
        if customer_id not in self.customers:
            raise StateNotLoaded(f"j:{customer_id}")
        return self.customers[customer_id]

    def put_customer(self, state: CustomerJourneys) -> None:
        self.customers[state.customer_id] = state
        self.changed.add(state.customer_id)


    def schedule(self, customer_id: str, journey_id: str, deadline: datetime) -> None:
        self.deadlines[(customer_id, journey_id)] = deadline

    def unschedule(self, customer_id: str, journey_id: str) -> None:
        self.deadlines[(customer_id, journey_id)] = None

    def due(self, now: datetime) -> list[tuple[str, str]]:
        """Not used in batches: the worker sweeps deadlines itself (see `worker.timer`)."""
        return []


def customer_ttl(state: CustomerJourneys, now: datetime, retention: timedelta,
                 windows: dict[str, timedelta]) -> timedelta:
    """Keep a customer's state while a journey may still change, plus `retention` for dedup."""
    until = now
    for journey in state.journeys:
        until = max(until, journey.deadline(windows[journey.family]))
    return (until - now) + retention


