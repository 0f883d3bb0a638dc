"""Streaming omnichannel traffic: many people's journeys merged in time order.

Journeys start one after the other along the period, at a pace that makes the requested
number of events fill it exactly (journey `k` starts where the events generated so far would
put it), warped by the hour of day. Each journey's events wait in a heap until the clock
reaches them, so memory holds the journeys in flight, never the whole sample. Who starts
the next journey is drawn from a Zipf–Mandelbrot law over the population. Finally a few
events are delivered late (out of order), as real channel adapters do.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_right
from collections.abc import Iterator
from random import Random
from typing import Final, NamedTuple

from journey_stitcher.generator.config import DEFAULT_DAYS, GeneratorConfig
from journey_stitcher.generator.events import Event, Scribe
from journey_stitcher.generator.journeys import any_journey
from journey_stitcher.generator.model import Person, PersonState, make_person, unit_hash
from journey_stitcher.generator.timefmt import DAY_MS, HOUR_MS, MINUTE_MS, to_ms

HOURLY_ACTIVITY: Final = (
    1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4, 5, 5.5, 6, 6.5, 6, 5.5, 5.5, 6, 6.5, 7, 7.5, 8,
    7.5, 5, 2.5,
)
"""Relative activity by hour of the day (Italian time, UTC+1): evening peak, quiet night."""

_CUMULATIVE: Final = tuple(itertools.accumulate(HOURLY_ACTIVITY, initial=0.0))
_LOCAL_SHIFT: Final = HOUR_MS
_LATE_MAX_MS: Final = 6 * HOUR_MS
_JITTER_MS: Final = 20 * MINUTE_MS
_SALTS: Final = {"late": 0x1A7E, "invalid": 0xBAD}


class Generated(NamedTuple):
    """An event with its event time, its rank in event-time order and the id of the person
    who really made it; `pinned` events are never delivered late."""

    t_ms: int
    rank: int
    event: Event
    person_id: str
    pinned: bool


def salted(seed: int, purpose: str) -> Random:
    """An independent random stream of `seed` for one purpose (lateness, bad lines)."""
    return Random(seed * 1_000_033 + _SALTS[purpose])


def zipf_cumulative(customers: int, s: float) -> list[float]:
    """Cumulative Zipf–Mandelbrot weights `1 / (rank + q) ** s` of the population.

    The shift `q` grows with the population (`customers / 1000`, at least 5) so the most
    active person makes about 0.1–5 % of the traffic rather than a third of it.
    """
    shift = max(5.0, customers / 1000)
    return list(itertools.accumulate((rank + shift) ** -s for rank in range(1, customers + 1)))


def _warp(t_ms: int, first_ms: int, last_ms: int) -> int:
    """Spread a uniform time over the day by `HOURLY_ACTIVITY`: a monotone map of each local
    day that lies wholly within `[first_ms, last_ms]` onto itself (identity elsewhere)."""
    day, rest = divmod(t_ms + _LOCAL_SHIFT, DAY_MS)
    day_start = day * DAY_MS - _LOCAL_SHIFT
    if day_start < first_ms or day_start + DAY_MS > last_ms:
        return t_ms
    target = rest / DAY_MS * _CUMULATIVE[-1]
    hour = min(23, bisect_right(_CUMULATIVE, target) - 1)
    fraction = (target - _CUMULATIVE[hour]) / HOURLY_ACTIVITY[hour]
    return day_start + int((hour + fraction) * HOUR_MS)


class _Population:
    """The people of a run, built lazily, with their state and scribes."""

    def __init__(self, cfg: GeneratorConfig, rng: Random, time_scale: float) -> None:
        self._cfg = cfg
        self._rng = rng
        self._time_scale = time_scale
        self._scribes: dict[int, Scribe] = {}
        self._cumulative = zipf_cumulative(cfg.customers, cfg.zipf_s)
        self._population = range(cfg.customers)
        self._picks: list[int] = []

    def next_scribe(self) -> Scribe:
        """The scribe of the person who starts the next journey."""
        if not self._picks:
            self._picks = self._rng.choices(self._population, cum_weights=self._cumulative, k=4096)
            self._picks.reverse()
        index = self._picks.pop()
        scribe = self._scribes.get(index)
        if scribe is None:
            scribe = self._scribes[index] = self._new_scribe(index)
        return scribe

    def _new_scribe(self, index: int) -> Scribe:
        cfg = self._cfg
        return Scribe(person_of(cfg, index), self._rng, state=PersonState(),
                      conflict_free=cfg.conflict_free,
                      consent_refusal=cfg.consent_refusal_fraction, time_scale=self._time_scale,
                      id_prefix="", ref_tag=f"{cfg.seed}-", contact_refs=not cfg.conflict_free)


def _in_order(cfg: GeneratorConfig) -> Iterator[Generated]:
    """Exactly `cfg.events` events in event-time order, with their ids."""
    first, last = cfg.span()
    start_ms, end_ms = to_ms(first), to_ms(last)
    total = cfg.events
    if total == 0:
        return
    span_ms = end_ms - start_ms
    rng = Random(cfg.seed)
    people = _Population(cfg, rng, min(1.0, span_ms / (DEFAULT_DAYS * DAY_MS)))
    pending: list[Generated] = []  # a heap: by time, then by creation
    kept = 0
    emitted = 0
    while kept < total or pending:
        start = _warp(start_ms + span_ms * kept // total, start_ms, end_ms)
        while pending and (kept >= total or pending[0].t_ms <= start):
            item = heapq.heappop(pending)
            emitted += 1
            item.event["event_id"] = f"evt-{cfg.seed}-{emitted}"
            yield item
            if emitted == total:
                return
        if kept >= total:
            continue
        scribe = people.next_scribe()
        any_journey(scribe, start + rng.randrange(min(_JITTER_MS, end_ms - start + 1)))
        person_id = scribe.person.person_id
        for t_ms, event, pinned in scribe.out:
            if t_ms <= end_ms:
                kept += 1
                heapq.heappush(pending, Generated(t_ms, kept, event, person_id, pinned))
        scribe.out.clear()


def _late(stream: Iterator[Generated], fraction: float, rng: Random) -> Iterator[Generated]:
    """Delay a `fraction` of the events (not pinned ones) by minutes to hours."""
    if fraction <= 0:
        yield from stream
        return
    held: list[tuple[int, int, Generated]] = []
    counter = itertools.count()
    for item in stream:
        while held and held[0][0] <= item.t_ms:
            yield heapq.heappop(held)[2]
        if not item.pinned and rng.random() < fraction:
            delay = min(_LATE_MAX_MS, int(rng.lognormvariate(2.5, 1.3) * MINUTE_MS))
            heapq.heappush(held, (item.t_ms + max(MINUTE_MS, delay), next(counter), item))
        else:
            yield item
    while held:
        yield heapq.heappop(held)[2]


def generate(cfg: GeneratorConfig) -> Iterator[Generated]:
    """The events of `cfg` in delivery order, with event time and true person."""
    return _late(_in_order(cfg), cfg.late_fraction, salted(cfg.seed, "late"))


def generate_events(cfg: GeneratorConfig) -> Iterator[Event]:
    """Exactly `cfg.events` interaction events (SPEC §3), as dicts, in delivery order."""
    for item in generate(cfg):
        yield item.event


def generate_with_truth(cfg: GeneratorConfig) -> Iterator[tuple[Event, str]]:
    """The events of `generate_events` paired with the id of the person who made each.

    A stitcher can only group what identifiers link: events refused for stitching
    (`consent.stitching` false) stay apart by design, and outside conflict-free mode shared
    household identifiers and duplicate accounts make real conflicts.
    """
    for item in generate(cfg):
        yield item.event, item.person_id


def person_of(cfg: GeneratorConfig, index: int) -> Person:
    """Person `index` exactly as the traffic of `cfg` uses them."""
    anonymous = unit_hash(cfg.seed, index, 0xA707) < cfg.anonymous_fraction
    return make_person(index, seed=cfg.seed, anonymous=anonymous, conflict_free=cfg.conflict_free)
