"""The identity graph's values: profiles and what resolving an event produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CloudEvent = dict[str, Any]


@dataclass(slots=True)
class Profile:
    """A customer as the identity graph knows them.

    `identifiers` maps a type to its stored (hashed) values in the order they were linked;
    `refs` holds the owned references (`order_id:A-1`) first used by this profile. A merged
    profile keeps only `merged_into`: anything addressed to it reaches the survivor.
    """

    id: str
    created_at: datetime
    identifiers: dict[str, list[str]] = field(default_factory=dict)
    refs: list[str] = field(default_factory=list)
    merged_into: str | None = None
    merges: int = 0

    def owns_only(self, types: frozenset[str]) -> bool:
        """True when every identifier type this profile has is in `types`."""
        return all(kind in types for kind, values in self.identifiers.items() if values)

    def count(self, kind: str) -> int:
        return len(self.identifiers.get(kind, ()))

    def link(self, kind: str, value: str) -> None:
        self.identifiers.setdefault(kind, []).append(value)

    def age_key(self) -> tuple[datetime, str]:
        """Sort key: older profiles first (ties broken by id, for determinism)."""
        return (self.created_at, self.id)


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """What resolving an interaction decided, kept so a redelivery re-emits it identically."""

    customer_id: str
    outputs: tuple[CloudEvent, ...] = ()
    merged_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    """The customer an interaction belongs to, and the identity events it caused.

    `merged_ids` are profiles merged into `customer_id` by this interaction: the journey
    stage moves their journeys to the survivor. `duplicate` is True on a redelivery.
    """

    customer_id: str
    outputs: tuple[CloudEvent, ...]
    merged_ids: tuple[str, ...] = ()
    duplicate: bool = False
