"""The catalog: channels, touchpoints, families, identifier types and what links them (§4)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

IDENTIFY = "identify"


@dataclass(frozen=True, slots=True)
class Channel:
    """A medium the company reaches customers through."""

    id: str
    kind: str  # digital | analog | physical
    direction: str  # two-way | one-way
    assisted: bool
    touchpoints: frozenset[str]  # the touchpoints this channel supports (capability matrix)


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """A moment of contact with an intent; `family` is None only for `identify`."""

    id: str
    phase: str | None
    family: str | None
    goal: bool = False


@dataclass(frozen=True, slots=True)
class Family:
    """A kind of journey and how long it may stay idle before it is abandoned."""

    id: str
    window: timedelta


@dataclass(frozen=True, slots=True)
class IdentifierType:
    """A kind of customer identifier; priority decides attribution and merge survivor."""

    id: str
    priority: int
    max_per_profile: int
    blocked_patterns: tuple[re.Pattern[str], ...] = ()

    @property
    def unique(self) -> bool:
        return self.max_per_profile == 1


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every table of §4, as one immutable value handed to the core."""

    channels: dict[str, Channel]
    touchpoints: dict[str, Touchpoint]
    families: dict[str, Family]
    identifier_types: dict[str, IdentifierType]
    owned_refs: frozenset[str]
    blocked_values: frozenset[str]
    anonymous_types: frozenset[str] = field(default=frozenset({"device_id", "cookie_id"}))

    def usable_ref(self, value: str) -> bool:
        """Whether an owned reference's value can tie interactions together: not empty after
        trimming and not a blocked value (`null`, `undefined`, `0`, ...: an adapter's
        placeholder would glue every customer with that "order" into one)."""
        return value.strip().lower() not in self.blocked_values and bool(value.strip())

    def supports(self, channel: str, touchpoint: str) -> bool:
        """True when `channel` supports `touchpoint` (identify is accepted everywhere)."""
        return touchpoint == IDENTIFY or touchpoint in self.channels[channel].touchpoints

    def window(self, family: str) -> timedelta:
        return self.families[family].window
