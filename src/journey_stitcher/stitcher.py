"""The stitching core as one unit: parse, resolve identity, apply the journey rules.

`replay` drives a `Stitcher` over a file; the worker drives the same `IdentityResolver`
and `JourneyEngine` in two stages with Redis-backed stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from journey_stitcher.config import StitcherConfig
from journey_stitcher.errors import InvalidInput
from journey_stitcher.identity.model import CloudEvent
from journey_stitcher.identity.normalize import Normalizer
from journey_stitcher.identity.resolver import IdentityResolver
from journey_stitcher.ids import Hasher
from journey_stitcher.interactions.model import Interaction
from journey_stitcher.interactions.parse import parse_interaction
from journey_stitcher.journeys.engine import JourneyEngine
from journey_stitcher.storage.base import IdentityStore, JourneyStore
from journey_stitcher.storage.memory import MemoryIdentityStore, MemoryJourneyStore


@dataclass(frozen=True, slots=True)
class Core:
    """The two stages of the core, wired to their stores."""

    resolver: IdentityResolver
    engine: JourneyEngine

    @classmethod
    def build(
        cls, config: StitcherConfig, normalizer: Normalizer,
        identities: IdentityStore, journeys: JourneyStore,
    ) -> Core:
        """Cheap: the worker builds one per batch around that batch's stores; the normalizer
        (and its caches of phone numbers and hashes) lives as long as the process."""
        resolver = IdentityResolver(config.catalog, normalizer, identities,
                                    source=config.source, merge_guard=config.merge_guard)
        engine = JourneyEngine(config.catalog, normalizer, journeys, source=config.source,
                               context_limit=config.handoff_context_limit)
        return cls(resolver, engine)


def normalizer_for(config: StitcherConfig, pepper: bytes | None) -> Normalizer:
    """The identifier normalizer of `config`, hashing with `pepper` unless hashing is off."""
    hasher = Hasher(pepper if config.hashing else None)
    return Normalizer(config.catalog, config.default_phone_region, hasher)


class Stitcher:
    """Event-time stitching over one ordered stream, as `replay` runs it.

    The clock is the largest `occurred_at` seen so far: each accepted event first expires
    the journeys that went idle before it, then is resolved and placed. A redelivered event
    (an `event_id` seen before) leaves the clock where it is.
    """

    def __init__(
        self, config: StitcherConfig, pepper: bytes | None,
        identities: IdentityStore | None = None, journeys: JourneyStore | None = None,
    ) -> None:
        self.config = config
        self.identities = identities if identities is not None else MemoryIdentityStore()
        self.journeys = journeys if journeys is not None else MemoryJourneyStore()
        self.core = Core.build(config, normalizer_for(config, pepper), self.identities,
                               self.journeys)
        self.clock: datetime | None = None
        self.dropped_identifiers = 0

    def process_line(self, raw: bytes) -> list[CloudEvent]:
        """The outputs of one raw input event; raises `InvalidInput` when it is rejected."""
        return self.process(parse_interaction(raw, self.config))

    def process(self, event: Interaction) -> list[CloudEvent]:
        """The outputs of one parsed event, in §7.9 order (idle journeys' events first)."""
        try:
            keys = self.core.resolver.prepare(event)
        except InvalidInput:
            # no_identity: none of its identifiers was usable, and each one dropped counts (§4)
            self.dropped_identifiers += len(event.identifiers)
            raise
        # A redelivery changes nothing (§7.1), the clock included: its `occurred_at` may
        # differ from the first delivery's, and moving the clock would expire journeys.
        seen = self.identities.record(event.event_id) is not None
        outputs = [] if seen else self.advance(event.occurred_at)
        resolution = self.core.resolver.resolve(event, keys)
        if not resolution.duplicate:
            self.dropped_identifiers += keys.dropped
        assert self.clock is not None
        outputs += self.core.engine.apply(event, resolution, self.clock)
        return outputs

    def advance(self, moment: datetime) -> list[CloudEvent]:
        """Move the clock forward to `moment` (never back); the journeys it idles."""
        if self.clock is None or moment > self.clock:
            self.clock = moment
        return self.core.engine.expire(self.clock)
