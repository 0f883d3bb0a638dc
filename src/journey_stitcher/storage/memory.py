"""In-memory state: dictionaries and a heap of deadlines. For `replay` and unit tests."""

from __future__ import annotations

import heapq
from datetime import datetime

from journey_stitcher.identity.model import CloudEvent, IdentityRecord, Profile
from journey_stitcher.journeys.model import CustomerJourneys


class MemoryIdentityStore:
    """The identity graph in dictionaries."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.profiles: dict[str, Profile] = {}
        self.records: dict[str, IdentityRecord] = {}

    def owner(self, key: str) -> str | None:
        return self.owners.get(key)

    def set_owner(self, key: str, profile_id: str) -> None:
        self.owners[key] = profile_id

    def profile(self, profile_id: str) -> Profile | None:
        return self.profiles.get(profile_id)

    def put_profile(self, profile: Profile) -> None:
        self.profiles[profile.id] = profile

    def record(self, event_id: str) -> IdentityRecord | None:
        return self.records.get(event_id)

    def put_record(self, event_id: str, record: IdentityRecord) -> None:
        self.records[event_id] = record


class MemoryJourneyStore:
    """Journey state in a dictionary; deadlines in a heap with lazy deletion."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerJourneys] = {}
        self.emitted_by: dict[str, dict[str, tuple[CloudEvent, ...]]] = {}
        self._deadlines: dict[tuple[str, str], datetime] = {}
        self._heap: list[tuple[datetime, str, str]] = []

    def customer(self, customer_id: str) -> CustomerJourneys | None:
        return self.customers.get(customer_id)

    def put_customer(self, state: CustomerJourneys) -> None:
        self.customers[state.customer_id] = state

    def emitted(self, customer_id: str, event_id: str) -> tuple[CloudEvent, ...] | None:
        return self.emitted_by.get(customer_id, {}).get(event_id)

    def put_emitted(self, customer_id: str, event_id: str, outputs: tuple[CloudEvent, ...]) -> None:
        self.emitted_by.setdefault(customer_id, {})[event_id] = outputs

    def all_emitted(self, customer_id: str) -> dict[str, tuple[CloudEvent, ...]]:
        return dict(self.emitted_by.get(customer_id, {}))

    def schedule(self, customer_id: str, journey_id: str, deadline: datetime) -> None:
        slot = (customer_id, journey_id)
        if self._deadlines.get(slot) != deadline:
            self._deadlines[slot] = deadline
            heapq.heappush(self._heap, (deadline, journey_id, customer_id))

    def unschedule(self, customer_id: str, journey_id: str) -> None:
        self._deadlines.pop((customer_id, journey_id), None)

    def due(self, now: datetime) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        heap = self._heap
        while heap and heap[0][0] < now:
            deadline, journey_id, customer_id = heapq.heappop(heap)
            slot = (customer_id, journey_id)
            if self._deadlines.get(slot) == deadline and slot not in seen:
                seen.add(slot)
                found.append(slot)
        for slot in found:  # still scheduled until the caller unschedules them
            heapq.heappush(heap, (self._deadlines[slot], slot[1], slot[0]))
        return found
