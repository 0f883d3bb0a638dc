"""Identity resolution (SPEC §6): which customer an interaction belongs to.

Identifiers and owned references find profiles; none found creates one, one found takes
the event and the identifiers it lacks, several found are merged only through verified
identifiers (or when the others are anonymous). Whatever cannot be linked or merged is
reported as `identity.conflict` and left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from journey_stitcher import ids
from journey_stitcher.catalog.model import Catalog
from journey_stitcher.errors import InvalidInput
from journey_stitcher.identity.model import CloudEvent, IdentityRecord, Profile, Resolution
from journey_stitcher.identity.normalize import Normalizer, ResolvedIdentifier
from journey_stitcher.interactions.model import Interaction
from journey_stitcher.outputs import IDENTITY_CONFLICT, IDENTITY_MERGED, cloudevent
from journey_stitcher.storage.base import IdentityStore

REF_PREFIX = "ref:"


@dataclass(frozen=True, slots=True)
class Keys:
    """The usable identifiers and owned references (`ref:order_id:A-1`) of an event."""

    identifiers: list[ResolvedIdentifier]
    refs: list[str]
    dropped: int = 0


@dataclass(slots=True)
class _Found:
    """A profile the event reaches, and through what."""

    profile: Profile
    identifiers: list[ResolvedIdentifier] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return any(identifier.verified for identifier in self.identifiers)

    def link_types(self) -> list[str]:
        kinds = [identifier.type for identifier in self.identifiers]
        kinds += [ref.removeprefix(REF_PREFIX).split(":", 1)[0] for ref in self.refs]
        return sorted(set(kinds))


@dataclass(slots=True)
class _Outcome:
    """What resolving one event emits, in order."""

    event: Interaction
    source: str
    outputs: list[CloudEvent] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)

    def emit(self, event_type: str, subject: str, data: dict[str, Any]) -> None:
        event_id = ids.cloudevent_id(event_type, self.event.event_id, str(len(self.outputs)))
        self.outputs.append(cloudevent(
            source=self.source, event_type=event_type, event_id=event_id, subject=subject,
            time=self.event.at, data=data,
        ))

    def conflict(self, customers: list[str], kind: str | None, reason: str) -> None:
        self.emit(IDENTITY_CONFLICT, customers[0], {
            "customer_ids": customers, "identifier_type": kind, "reason": reason,
            "event_id": self.event.event_id,
        })


class IdentityResolver:
    """Resolves interactions against an identity graph kept in an `IdentityStore`."""

    def __init__(
        self, catalog: Catalog, normalizer: Normalizer, store: IdentityStore, *,
        source: str, merge_guard: int = 100,
    ) -> None:
        self._catalog = catalog
        self._normalizer = normalizer
        self._store = store
        self._source = source
        self._merge_guard = merge_guard

    def prepare(self, event: Interaction) -> Keys:
        """The usable identifiers and owned references of `event`.

        Raises `InvalidInput(no_identity)` when it has neither; reads no state.
        """
        identifiers, dropped = self._normalizer.resolve(event.identifiers)
        catalog = self._catalog
        refs = [f"{REF_PREFIX}{name}:{value}" for name, value in event.refs.items()
                if name in catalog.owned_refs and catalog.usable_ref(value)]
        if not identifiers and not refs:
            raise InvalidInput("no_identity", "identifiers: none is usable (missing, blocked "
                               "or unusable after normalization) and refs holds no usable owned "
                               f"reference ({', '.join(sorted(catalog.owned_refs))})")
        return Keys(identifiers, refs, dropped)

    def resolve(self, event: Interaction, keys: Keys | None = None) -> Resolution:
        """The customer of `event`; raises `InvalidInput(no_identity)` when it has none."""
        if keys is None:
            keys = self.prepare(event)
        known = self._store.record(event.event_id)
        if known is not None:
            # Addressed to the customer it was resolved to the first time, not to whoever
            # that customer was merged into since: the journey stage follows its own merge
            # tombstones. If the first delivery's re-keyed record was lost (a crash between
            # the identity write and Kafka's acknowledgement) and a later interaction of the
            # same lost batch merged that customer away, the survivor has not absorbed it
            # yet: placed there directly, the interaction would join the survivor's journeys
            # instead of its own, unlike replay.
            return Resolution(known.customer_id, known.outputs, known.merged_ids, duplicate=True)
        identifiers, refs = keys.identifiers, keys.refs
        outcome = _Outcome(event, self._source)
        if event.consent_stitching:
            customer = self._stitch(event, identifiers, refs, outcome)
        else:
            customer = self._isolated(identifiers, refs)
        record = IdentityRecord(customer, tuple(outcome.outputs), tuple(outcome.merged))
        self._store.put_record(event.event_id, record)
        return Resolution(customer, record.outputs, record.merged_ids)

    def follow(self, profile_id: str) -> str:
        """The surviving profile `profile_id` was merged into (itself when not merged)."""
        seen = {profile_id}
        profile = self._store.profile(profile_id)
        while profile is not None and profile.merged_into is not None:
            profile_id = profile.merged_into
            if profile_id in seen:  # pragma: no cover - merges never form cycles
                break
            seen.add(profile_id)
            profile = self._store.profile(profile_id)
        return profile_id

    def _isolated(self, identifiers: list[ResolvedIdentifier], refs: list[str]) -> str:
        """§6.8: a consent-refusing event keys a profile of its lowest-priority identifier."""
        if identifiers:
            lowest = min(identifiers, key=lambda i: self._priority(i.type))
            return ids.isolated_customer_id(lowest.key)
        return ids.isolated_customer_id(refs[0])

    def _priority(self, kind: str) -> int:
        return self._catalog.identifier_types[kind].priority

    def _stitch(
        self, event: Interaction, identifiers: list[ResolvedIdentifier], refs: list[str],
        outcome: _Outcome,
    ) -> str:
        found = self._lookup(identifiers, refs)
        if not found:
            target = Profile(ids.customer_id(event.event_id), event.occurred_at)
        elif len(found) == 1:
            target = next(iter(found.values())).profile
        else:
            target = self._merge_all(found, identifiers, outcome)
        self._link(target, identifiers, refs, outcome)
        self._store.put_profile(target)
        return target.id

    def _lookup(
        self, identifiers: list[ResolvedIdentifier], refs: list[str]
    ) -> dict[str, _Found]:
        found: dict[str, _Found] = {}

        def reach(key: str) -> _Found | None:
            owner = self._store.owner(key)
            if owner is None:
                return None
            owner = self.follow(owner)
            if owner not in found:
                profile = self._store.profile(owner)
                if profile is None:
                    return None
                found[owner] = _Found(profile)
            return found[owner]

        for identifier in identifiers:
            hit = reach(identifier.key)
            if hit is not None:
                hit.identifiers.append(identifier)
        for ref in refs:
            hit = reach(ref)
            if hit is not None:
                hit.refs.append(ref)
        return found

    def _survivor(self, found: dict[str, _Found], identifiers: list[ResolvedIdentifier]) -> Profile:
        """§6.5: the owner of the highest-priority verified identifier, else of the
        highest-priority identifier, else the oldest profile reached; ties go to the older."""
        owners = {identifier.key: hit.profile
                  for hit in found.values() for identifier in hit.identifiers}
        for pool in ([i for i in identifiers if i.verified], identifiers):
            owned = [i for i in pool if i.key in owners]
            if owned:
                top = max(self._priority(i.type) for i in owned)
                candidates = [owners[i.key] for i in owned if self._priority(i.type) == top]
                return min(candidates, key=Profile.age_key)
        return min((hit.profile for hit in found.values()), key=Profile.age_key)

    def _merge_all(
        self, found: dict[str, _Found], identifiers: list[ResolvedIdentifier], outcome: _Outcome
    ) -> Profile:
        survivor = self._survivor(found, identifiers)
        event_verified = any(identifier.verified for identifier in identifiers)
        others = sorted(
            (hit for pid, hit in found.items() if pid != survivor.id),
            key=lambda hit: (-self._best_priority(hit), hit.profile.age_key()),
        )
        for hit in others:
            refusal = self._refusal(found[survivor.id], hit, event_verified)
            if refusal is not None:
                reason, kind = refusal
                outcome.conflict([survivor.id, hit.profile.id], kind, reason)
                continue
            self._merge(survivor, hit, outcome)
        return survivor

    def _best_priority(self, hit: _Found) -> int:
        return max((self._priority(i.type) for i in hit.identifiers), default=0)

    def _trusted(self, hit: _Found) -> bool:
        """§6.5: reached through a verified identifier of the event, or anonymous."""
        return hit.verified or hit.profile.owns_only(self._catalog.anonymous_types)

    def _refusal(
        self, kept: _Found, hit: _Found, event_verified: bool
    ) -> tuple[str, str | None] | None:
        """Why `hit` may not be merged into `kept` (the survivor), or None when it may."""
        survivor, merged = kept.profile, hit.profile
        reached_by = hit.link_types()[0] if hit.link_types() else None
        # §6.5 in its own words: each profile merged, the survivor included, is reached
        # through a verified identifier of the event or is anonymous (§6.7: a typed-in e-mail
        # that finds a known profile cannot merge it with another, whatever else the event
        # carries). An owned reference (an order number) is not an identifier: the profile
        # that placed an order may be someone else's (a gift, a shared family account).
        weak = next((h for h in (hit, kept) if not self._trusted(h)), None)
        if not event_verified or weak is not None:
            weak = weak or hit
            unverified = [i.type for i in weak.identifiers if not i.verified]
            linked = unverified or weak.link_types()
            return "unverified_link", (linked[0] if linked else None)
        for kind, spec in self._catalog.identifier_types.items():
            union = set(survivor.identifiers.get(kind, ())) | set(merged.identifiers.get(kind, ()))
            if len(union) > spec.max_per_profile:
                return ("unique_conflict" if spec.unique else "limit_exceeded"), kind
        if survivor.merges + 1 + merged.merges > self._merge_guard:
            return "merge_limit", reached_by
        return None

    def _merge(self, survivor: Profile, hit: _Found, outcome: _Outcome) -> None:
        merged = hit.profile
        for kind, values in merged.identifiers.items():
            for value in values:
                if value not in survivor.identifiers.get(kind, ()):
                    survivor.link(kind, value)
                self._store.set_owner(f"{kind}:{value}", survivor.id)
        for ref in merged.refs:
            if ref not in survivor.refs:
                survivor.refs.append(ref)
            self._store.set_owner(ref, survivor.id)
        survivor.merges += 1 + merged.merges
        merged.identifiers, merged.refs = {}, []
        merged.merged_into = survivor.id
        self._store.put_profile(merged)
        outcome.merged.append(merged.id)
        outcome.emit(IDENTITY_MERGED, survivor.id, {
            "survivor_id": survivor.id, "merged_id": merged.id,
            "event_id": outcome.event.event_id, "identifier_types": hit.link_types(),
        })

    def _link(
        self, target: Profile, identifiers: list[ResolvedIdentifier], refs: list[str],
        outcome: _Outcome,
    ) -> None:
        """§6.3–4: give `target` the identifiers and references nobody owns yet."""
        for identifier in sorted(identifiers, key=lambda i: -self._priority(i.type)):
            owner = self._store.owner(identifier.key)
            if owner is not None and self.follow(owner) != target.id:
                continue  # another profile keeps it (a refused merge already said why)
            if identifier.value in target.identifiers.get(identifier.type, ()):
                continue
            spec = self._catalog.identifier_types[identifier.type]
            if target.count(identifier.type) >= spec.max_per_profile:
                outcome.conflict([target.id], identifier.type, "limit_exceeded")
                continue
            target.link(identifier.type, identifier.value)
            self._store.set_owner(identifier.key, target.id)
        for ref in refs:
            if self._store.owner(ref) is None:
                target.refs.append(ref)
                self._store.set_owner(ref, target.id)
