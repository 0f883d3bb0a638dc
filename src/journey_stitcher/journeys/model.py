"""Journey state of one customer: journeys and their touchpoints."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol

LATEST = datetime.max.replace(tzinfo=UTC)  # the last instant a deadline can be

JourneyStatus = Literal["open", "completed"]


class Touch(NamedTuple):
    """One touchpoint of a journey, ordered by event time (then event id). A named tuple:
    states are decoded touch by touch on every batch, and tuples are the cheapest to build."""

    occurred_at: datetime
    event_id: str
    channel: str
    touchpoint: str
    device_id: str | None = None
    at: str = ""  # occurred_at as outputs write it (see Interaction.at)


class StoredTouches(Protocol):
    """A journey's touches as the store read them, decoded only when asked for."""

    def last_moment(self) -> datetime:
        """When the last touch happened."""
        ...

    def decode(self) -> list[Touch]:
        """The touches, in time order."""
        ...


class Journey:
    """A sequence of touchpoints toward one goal. Closed journeys leave the state.

    Change it only through its methods: they drop `encoded`, the journey's stored form that
    the Redis codec keeps with it, so a batch re-encodes only the journeys it changed.

    A journey read from the store (`from_store`) decodes its touches the first time they are
    used: a busy customer's state holds tens of journeys, each of tens of touches, and an
    interaction looks at the touches of one or two of them (the others' last touch only)."""

    __slots__ = ("_touches", "completed_at", "encoded", "family", "id", "refs", "status", "stored")

    def __init__(
        self, id: str, family: str, status: JourneyStatus,
        touches: list[Touch] | None = None, refs: dict[str, list[str]] | None = None,
        completed_at: datetime | None = None, encoded: Any = None,
    ) -> None:
        self.id = id
        self.family = family
        self.status: JourneyStatus = status
        self._touches: list[Touch] | None = touches if touches is not None else []
        self.refs: dict[str, list[str]] = refs if refs is not None else {}
        self.completed_at = completed_at
        self.encoded = encoded
        # The journey as read from the store, while unchanged: its touches until they are
        # decoded, and what the codec writes back for it.
        self.stored: StoredTouches | None = None

    @classmethod
    def from_store(cls, id: str, family: str, status: JourneyStatus,
                   touches: StoredTouches, refs: dict[str, list[str]],
                   completed_at: datetime | None) -> Journey:
        journey = cls(id, family, status, None, refs, completed_at)
        journey._touches = None
        journey.stored = touches
        return journey

    @property
    def touches(self) -> list[Touch]:
        if self._touches is None:
            assert self.stored is not None
            self._touches = self.stored.decode()
        return self._touches

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Journey):
            return NotImplemented
        return (self.id, self.family, self.status, self.touches, self.refs, self.completed_at) \
            == (other.id, other.family, other.status, other.touches, other.refs, other.completed_at)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return (f"Journey(id={self.id!r}, family={self.family!r}, status={self.status!r}, "
                f"touches={self.touches!r}, refs={self.refs!r}, completed_at={self.completed_at!r})")

    @property
    def last_activity(self) -> datetime:
        if self._touches is None:
            assert self.stored is not None
            return self.stored.last_moment()
        return self._touches[-1].occurred_at

    def deadline(self, window: timedelta) -> datetime:
        """When the journey goes idle for good: after this instant it is abandoned or closed.
        A touch within a window of the calendar's end (a `9999-12-31` placeholder) has the
        last representable instant as its deadline."""
        try:
            return self.last_activity + window
        except OverflowError:
            return LATEST

    def _changing(self) -> list[Touch]:
        """The touches, decoded, before a change: the stored form no longer stands for it."""
        touches = self.touches
        self.encoded = self.stored = None
        return touches

    def add(self, touch: Touch) -> int:
        """Place `touch` by event time, after the touches of the same instant (they arrived
        first: with timestamps to the second, arrival order is the only order left); its
        0-based position."""
        touches = self._changing()
        position = bisect_right(touches, touch.occurred_at, key=_time)
        touches.insert(position, touch)
        return position

    def add_refs(self, refs: dict[str, str]) -> None:
        for name, value in refs.items():
            values = self.refs.get(name)
            if values is None or value not in values:
                self._changing()
                self.refs.setdefault(name, []).append(value)

    def complete(self, moment: datetime) -> None:
        self._changing()
        self.status = "completed"
        self.completed_at = moment

    def shares_ref(self, refs: dict[str, str], names: frozenset[str]) -> bool:
        """True when one of `refs` whose name is in `names` is already one of this journey's."""
        return any(name in names and value in self.refs.get(name, ()) for name, value in refs.items())

    def near(self, moment: datetime, window: timedelta) -> bool:
        """True when a touchpoint of this journey lies within `window` of `moment` (the
        touches are in time order: only the two around `moment` can be the nearest)."""
        touches = self.touches
        after = bisect_left(touches, moment, key=_time)
        if after < len(touches) and touches[after].occurred_at - moment <= window:
            return True
        return after > 0 and moment - touches[after - 1].occurred_at <= window


def _time(touch: Touch) -> datetime:
    return touch.occurred_at


@dataclass(slots=True)
class CustomerJourneys:
    """Everything the journey stage keeps for one customer."""

    customer_id: str
    journeys: list[Journey] = field(default_factory=list)
    # Set once the customer was merged and its journeys moved: a tombstone that sends
    # anything still addressed to it (an interaction resolved before the merge) onwards.
    merged_into: str | None = None
    # Journeys this state shares with the one it was copied from (`copy`); `own` gives the
    # state its own copy of one before the rules change it.
    borrowed: set[int] = field(default_factory=set, compare=False, repr=False)
    # No journey goes idle before this instant (a lower bound of their deadlines; None:
    # unknown). Adding touches only moves deadlines later and closing journeys only removes
    # some, so it stays a lower bound; a new journey lowers it (`note_deadline`).
    idle_after: datetime | None = field(default=None, compare=False, repr=False)
    # The worker's bookkeeping, not a journey rule: the (partition, offset) of the last
    # re-keyed record applied to this state, which tells a redelivery from a new record
    # without reading stored outputs (`worker.stages`). `replay` leaves it unset.
    position: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    def journey(self, journey_id: str) -> Journey | None:
        return next((j for j in self.journeys if j.id == journey_id), None)

    def copy(self) -> CustomerJourneys:
        """A copy the rules can change without touching this one: the journeys are shared
        until `own` copies the one about to change (a busy customer has many journeys, a
        batch changes few of them)."""
        return CustomerJourneys(self.customer_id, list(self.journeys), self.merged_into,
                                {id(j) for j in self.journeys}, self.idle_after, self.position)

    def own(self, journey: Journey) -> Journey:
        """`journey` (one of this state's), safe to change: copied first if borrowed."""
        if id(journey) not in self.borrowed:
            return journey
        self.borrowed.discard(id(journey))
        mine = Journey(journey.id, journey.family, journey.status, list(journey.touches),
                       {name: list(values) for name, values in journey.refs.items()},
                       journey.completed_at, journey.encoded)
        self.journeys[next(n for n, j in enumerate(self.journeys) if j is journey)] = mine
        return mine

    def note_deadline(self, deadline: datetime) -> None:
        """A journey was added that goes idle after `deadline`."""
        if self.idle_after is not None and deadline < self.idle_after:
            self.idle_after = deadline

    def adopt(self, journey: Journey) -> None:
        """Add another state's journey (a merge), borrowed like the ones copied."""
        self.journeys.append(journey)
        self.borrowed.add(id(journey))
