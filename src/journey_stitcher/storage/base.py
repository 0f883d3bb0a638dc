"""The storage interface the stitching core runs against.

The core is synchronous and pure: it reads and writes state through these two small
protocols. `storage.memory` keeps everything in dicts (replay, unit tests); the Redis store
loads what a batch needs into the same shapes, lets the core run, and writes the changes
back atomically.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from journey_stitcher.identity.model import CloudEvent, IdentityRecord, Profile
from journey_stitcher.journeys.model import CustomerJourneys


class IdentityStore(Protocol):
    """The identity graph: identifier and owned-reference keys → profile, and profiles."""

    def owner(self, key: str) -> str | None:
        """The profile that owns identifier or reference `key`, as last written."""

    def set_owner(self, key: str, profile_id: str) -> None: ...

    def profile(self, profile_id: str) -> Profile | None: ...

    def put_profile(self, profile: Profile) -> None: ...

    def record(self, event_id: str) -> IdentityRecord | None:
        """What resolving interaction `event_id` decided, if it was resolved before."""

    def put_record(self, event_id: str, record: IdentityRecord) -> None: ...


class JourneyStore(Protocol):
    """Journey state per customer, what each processed interaction emitted (for identical
    re-emission, SPEC §7.1), and the deadlines of the journeys."""

    def customer(self, customer_id: str) -> CustomerJourneys | None: ...

    def put_customer(self, state: CustomerJourneys) -> None: ...

    def emitted(self, customer_id: str, event_id: str) -> tuple[CloudEvent, ...] | None:
        """The journey events interaction `event_id` emitted when `customer_id` processed it;
        None when it did not (or longer ago than the store keeps)."""

    def put_emitted(self, customer_id: str, event_id: str, outputs: tuple[CloudEvent, ...]) -> None: ...

    def all_emitted(self, customer_id: str) -> dict[str, tuple[CloudEvent, ...]]:
        """Everything kept for `customer_id` (moved to the survivor when it is merged)."""

    def schedule(self, customer_id: str, journey_id: str, deadline: datetime) -> None:
        """Remember that `journey_id` goes idle at `deadline` (replacing an earlier one)."""

    def unschedule(self, customer_id: str, journey_id: str) -> None: ...

    def due(self, now: datetime) -> list[tuple[str, str]]:
        """(customer id, journey id) of the journeys whose deadline is before `now`,
        earliest first; they stay scheduled until unscheduled."""
