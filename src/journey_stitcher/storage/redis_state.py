"""Journey-stitcher state in Redis: the key layout and batch-sized units of work.

A batch of events is processed in three steps: load every key it needs (pipelined MGETs,
under WATCH), run the pure core on in-memory copies (`LoadedIdentityStore`,
`LoadedJourneyStore`), and write all changes back in one MULTI/EXEC. A concurrent writer
makes EXEC fail (WatchError) and the batch is simply run again on fresh state; nothing
has been sent by then. Dedup and re-emission: what each interaction emitted is stored,
deflated, in a hash of its customer (one field per event id) written in the same
transaction as the state; a batch reads only those of its own event ids that may have been
applied before (HMGET; `worker.stages`). The hashes rotate weekly (the key names the
week; each lives two weeks), so an interaction is recognised for at least 7 days after it
was processed, without any clean-up pass.

Key layout (`js` is the configurable prefix; `{…}` is the Redis Cluster hash tag):

    js:{idg}:o:<type>:<hash>      identifier → owning profile id           (no TTL)
    js:{idg}:o:ref:<name>:<value> owned reference → owning profile id      (no TTL)
    js:{idg}:p:<customer id>      profile (identifiers, refs, alias)        (no TTL)
    js:{idg}:r:<week>:<bucket>    hash: event id → identity decision        (15 days)
    js:{idg}:e:<event id>         identity decision, the layout before buckets (7 days; only read)
    js:{<customer id>}:j          open journeys and merge tombstone        (window TTL)
    js:{<customer id>}:x:<week>   event id → outputs of that event          (14 days)
    js:{d<shard>}:deadlines       sorted set "customer|journey" by deadline (µs)
    js:{d<shard>}:outbox          abandonment outputs written but not yet acknowledged

The identity graph shares one hash slot so that one optimistic transaction can cover
every identifier an event touches; journey state is spread by customer.

Identity decisions (one per interaction, kept at least 7 days) live in small hashes, a
field per event id in one of `RECORD_BUCKETS` buckets per week: in the full benchmark a key
of its own with a TTL took ~138 bytes of Redis per interaction, a field of a bucket (a
listpack) takes ~91.
Like the outputs hashes they rotate weekly: written during one week, read during the next.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from journey_stitcher.identity.model import CloudEvent, IdentityRecord, Profile
from journey_stitcher.journeys.model import CustomerJourneys
from journey_stitcher.partitioning import partition_of
from journey_stitcher.storage import codec


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
        """The key of one identity decision as written before they were bucketed (still
        read, so an upgrade keeps recognising the interactions of the last 7 days)."""
        return f"{self.prefix}:{{idg}}:e:{event_id}"

    def records(self, week: int, bucket: int) -> str:
        """One bucket of the identity decisions written during `week` (`week_of`)."""
        return f"{self.prefix}:{{idg}}:r:{week}:{bucket}"

    def record_keys(self, event_id: str, week: int) -> tuple[str, str, str]:
        """Where the identity decision of `event_id` may be, looked up during `week`: this
        week's bucket, last week's, and the key of the layout before buckets."""
        bucket = record_bucket(event_id)
        return self.records(week, bucket), self.records(week - 1, bucket), self.record(event_id)

    def customer(self, customer_id: str) -> str:
        return f"{self.prefix}:{{{customer_id}}}:j"

    def emitted(self, customer_id: str, week: int) -> str:
        return f"{self.prefix}:{{{customer_id}}}:x:{week}"

    def shard(self, customer_id: str) -> int:
        """The partition of the re-keyed topic the customer's records go to (Kafka's default
        partitioner: murmur2 of the key), so the worker owning that partition sweeps it."""
        return partition_of(customer_id.encode(), self.shards)

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
    """The customers (and outputs of events) a batch loaded, and the changes it made.

    `emitted` is answered from the (customer, event) pairs loaded, or from the complete
    outputs of a customer loaded whole (`everything`, for merged customers)."""

    customers: dict[str, CustomerJourneys | None] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    deadlines: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    outputs: dict[tuple[str, str], tuple[CloudEvent, ...] | None] = field(default_factory=dict)
    everything: dict[str, dict[str, tuple[CloudEvent, ...]]] = field(default_factory=dict)
    new_outputs: dict[tuple[str, str], tuple[CloudEvent, ...]] = field(default_factory=dict)

    def customer(self, customer_id: str) -> CustomerJourneys | None:
        if customer_id not in self.customers:
            raise StateNotLoaded(f"j:{customer_id}")
        return self.customers[customer_id]

    def put_customer(self, state: CustomerJourneys) -> None:
        self.customers[state.customer_id] = state
        self.changed.add(state.customer_id)

    def emitted(self, customer_id: str, event_id: str) -> tuple[CloudEvent, ...] | None:
        slot = (customer_id, event_id)
        if slot in self.outputs:
            return self.outputs[slot]
        if customer_id in self.everything:
            return self.everything[customer_id].get(event_id)
        raise StateNotLoaded(f"x:{customer_id}|{event_id}")

    def put_emitted(self, customer_id: str, event_id: str, outputs: tuple[CloudEvent, ...]) -> None:
        self.outputs[(customer_id, event_id)] = outputs
        self.new_outputs[(customer_id, event_id)] = outputs

    def all_emitted(self, customer_id: str) -> dict[str, tuple[CloudEvent, ...]]:
        if customer_id not in self.everything:
            raise StateNotLoaded(f"a:{customer_id}")
        found = dict(self.everything[customer_id])
        # with what this batch emitted for the customer before it was merged
        found.update((event_id, outputs) for (cid, event_id), outputs in self.outputs.items()
                     if cid == customer_id and outputs is not None)
        return found

    def schedule(self, customer_id: str, journey_id: str, deadline: datetime) -> None:
        self.deadlines[(customer_id, journey_id)] = deadline

    def unschedule(self, customer_id: str, journey_id: str) -> None:
        self.deadlines[(customer_id, journey_id)] = None

    def due(self, now: datetime) -> list[tuple[str, str]]:
        """Not used in batches: the worker sweeps deadlines itself (see `worker.timer`)."""
        return []


class DecodedStates:
    """Customer states decoded in earlier batches, each with a digest of the bytes it came from.

    A worker meets the same (busy) customers batch after batch; when the stored value is
    still byte for byte what this worker last read or wrote, a copy of the decoded state
    replaces decoding it again. The cache is bounded by the size of the stored values it
    stands for (`budget` bytes, plus `ENTRY_COST` per customer), not by a number of
    customers: busy customers' states grow as their journeys do, so a count alone let the
    worker's memory grow with the length of the run. A decoded state takes several times its
    stored size in memory. Least recently used entries go first."""

    ENTRY_COST = 256  # what a customer's entry costs beside its value (ids, digest, links)

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._used = 0
        self.hits = 0  # stored values found as last decoded or written
        self.misses = 0  # stored values decoded
        self._entries: OrderedDict[str, tuple[bytes, int, CustomerJourneys]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self._entries

    @property
    def budget(self) -> int:
        return self._budget

    @property
    def used(self) -> int:
        """The cost of what is cached, in the budget's units."""
        return self._used

    def decode(self, customer_id: str, raw: bytes) -> CustomerJourneys:
        digest = _digest(raw)
        entry = self._entries.get(customer_id)
        if entry is not None and entry[0] == digest:
            self._entries.move_to_end(customer_id)
            self.hits += 1
            return entry[2].copy()
        self.misses += 1
        state = codec.decode_customer(raw)
        self._keep(customer_id, digest, len(raw), state)
        return state.copy()

    def remember(self, customer_id: str, raw: bytes, state: CustomerJourneys) -> None:
        """`state` was just written as `raw`; the caller no longer changes it."""
        self._keep(customer_id, _digest(raw), len(raw), state)

    def _keep(self, customer_id: str, digest: bytes, size: int, state: CustomerJourneys) -> None:
        self.forget(customer_id)
        cost = size + self.ENTRY_COST
        if cost > self._budget:
            return
        self._entries[customer_id] = (digest, cost, state)
        self._used += cost
        while self._used > self._budget:
            _cid, evicted = self._entries.popitem(last=False)
            self._used -= evicted[1]

    def forget(self, customer_id: str) -> None:
        entry = self._entries.pop(customer_id, None)
        if entry is not None:
            self._used -= entry[1]


def _digest(raw: bytes) -> bytes:
    """Stands for a stored value in the cache (a fraction of its size; 128 bits)."""
    return hashlib.blake2b(raw, digest_size=16).digest()


WEEK = timedelta(days=7)


def week_of(moment: datetime) -> int:
    """The generation of the outputs and identity-decision hashes written at `moment`
    (weeks since the epoch)."""
    return int(moment.timestamp() // WEEK.total_seconds())


# Where a decision lives depends on this number: never change it (a changed count would
# miss the decisions already written). 16,384 buckets keep a bucket a listpack (≤ 512
# fields, Redis' default `hash-max-listpack-entries`) up to ~8 million interactions a week;
# above that buckets become hash tables, ~90 bytes a field, still less than a key each.
RECORD_BUCKETS = 16_384


def record_bucket(event_id: str) -> int:
    """The bucket of `event_id`'s identity decision."""
    return zlib.crc32(event_id.encode()) % RECORD_BUCKETS


# KEYS: for each event id in ARGV, its three `KeyLayout.record_keys`. One round trip for a
# whole batch, whatever the number of buckets it touches.
_READ_RECORDS = """
local found = {}
for i = 1, #ARGV do
  local value = redis.call('HGET', KEYS[3 * i - 2], ARGV[i])
  if not value then value = redis.call('HGET', KEYS[3 * i - 1], ARGV[i]) end
  if not value then value = redis.call('GET', KEYS[3 * i]) end
  found[i] = value
end
return found
"""

# KEYS: the buckets written; ARGV: the TTL in ms, then (bucket's index in KEYS, event id,
# decision) for each decision. Every bucket written keeps its TTL from its last write.
_WRITE_RECORDS = """
for i = 2, #ARGV, 3 do
  redis.call('HSET', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return #KEYS
"""


async def read_records(client: Any, layout: KeyLayout, event_ids: Sequence[str],
                       week: int) -> list[bytes | None]:
    """The stored identity decisions of `event_ids` (None where there is none), in one
    round trip; `client` is a Redis client or a pipeline in immediate mode (watching)."""
    if not event_ids:
        return []
    keys = [key for event_id in event_ids for key in layout.record_keys(event_id, week)]
    found: list[bytes | None] = await client.eval(_READ_RECORDS, len(keys), *keys, *event_ids)
    return found


def write_records(client: Any, layout: KeyLayout, records: Mapping[str, bytes], week: int,
                  ttl: timedelta) -> Any:
    """Write identity decisions into this week's buckets: one command (queued when `client`
    is a pipeline; to be awaited when it is a client)."""
    keys: dict[str, int] = {}
    args: list[Any] = [max(1, int(ttl.total_seconds() * 1000))]
    for event_id, value in records.items():
        key = layout.records(week, record_bucket(event_id))
        index = keys.setdefault(key, len(keys) + 1)
        args += [index, event_id, value]
    return client.eval(_WRITE_RECORDS, len(keys), *keys, *args)


def customer_ttl(state: CustomerJourneys, now: datetime, retention: timedelta,
                 windows: dict[str, timedelta]) -> timedelta:
    """Keep a customer's state while a journey may still change, plus `retention` for dedup."""
    until = now
    for journey in state.journeys:
        until = max(until, journey.deadline(windows[journey.family]))
    return (until - now) + retention


