"""Journey rules (SPEC §7): assignment, continuity, handoffs, completion, abandonment.

`JourneyEngine.apply` places one resolved interaction in its customer's journeys and
returns the journey events it causes; `JourneyEngine.expire` closes the journeys that
stayed idle for their family's window. Time is always passed in: replay's clock is event
time, the worker's is wall time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from journey_stitcher import ids
from journey_stitcher.catalog.model import IDENTIFY, Catalog
from journey_stitcher.identity.model import CloudEvent, Resolution
from journey_stitcher.identity.normalize import Normalizer
from journey_stitcher.interactions.model import Interaction
from journey_stitcher.journeys.model import CustomerJourneys, Journey, Touch
from journey_stitcher.outputs import (
    JOURNEY_ABANDONED,
    JOURNEY_COMPLETED,
    JOURNEY_CONTINUED,
    JOURNEY_HANDOFF,
    JOURNEY_STARTED,
    cloudevent,
    rfc3339,
)
from journey_stitcher.storage.base import JourneyStore

PRODUCT_REF = "product_id"
_NEVER = datetime.max.replace(tzinfo=UTC)


class JourneyEngine:
    """Applies the journey rules to journey state kept in a `JourneyStore`."""

    def __init__(
        self, catalog: Catalog, normalizer: Normalizer, store: JourneyStore, *,
        source: str, context_limit: int = 10,
    ) -> None:
        self._catalog = catalog
        self._normalizer = normalizer
        self._store = store
        self._source = source
        self._context_limit = context_limit
        self._journey_refs = catalog.owned_refs | {PRODUCT_REF}
        self._windows = {family.id: family.window for family in catalog.families.values()}

    # -- one interaction ---------------------------------------------------------------

    def apply(self, event: Interaction, resolution: Resolution, now: datetime) -> list[CloudEvent]:
        """The journey events of `event`, after the identity events of its resolution.

        Journeys of the customer idle at `now` are expired first (their events come first);
        a redelivered interaction changes nothing and re-emits what it emitted the first
        time (the identity events first).
        """
        state = self._state_of(resolution.customer_id)
        for merged_id in resolution.merged_ids:
            self._absorb(state, merged_id)
        known = self._store.emitted(state.customer_id, event.event_id)
        if known is not None:
            return [*resolution.outputs, *known]
        idle = self._expire_customer(state, now)
        emitted: list[CloudEvent] = []
        if event.touchpoint != IDENTIFY:
            emitted = self._place(state, event)
        # A late event can land in a journey already idle at `now`: it closes right after.
        late = self._expire_customer(state, now)
        # Written with the state in one atomic write, so a redelivery re-emits all of it (§8).
        self._store.put_emitted(state.customer_id, event.event_id, (*idle, *emitted, *late))
        self._store.put_customer(state)
        return [*idle, *resolution.outputs, *emitted, *late]

    def expire_customer(self, customer_id: str, now: datetime) -> list[CloudEvent]:
        """Expire the idle journeys of one customer (the worker's abandonment sweep)."""
        state = self._store.customer(customer_id)
        if state is None:
            return []
        outputs = self._expire_customer(state, now)
        if outputs or not state.journeys:
            self._store.put_customer(state)
        return outputs

    def _state_of(self, customer_id: str) -> CustomerJourneys:
        """The customer's state, following the tombstones of customers merged away."""
        seen = {customer_id}
        state = self._store.customer(customer_id)
        while state is not None and state.merged_into is not None:
            customer_id = state.merged_into
            if customer_id in seen:  # pragma: no cover - merges never form cycles
                break
            seen.add(customer_id)
            state = self._store.customer(customer_id)
        return state or CustomerJourneys(customer_id)

    def _absorb(self, state: CustomerJourneys, merged_id: str) -> None:
        """§6.6: the merged profile's journeys (ids kept) and history move to the survivor;
        a tombstone stays behind for interactions resolved to it before the merge."""
        merged = self._store.customer(merged_id) or CustomerJourneys(merged_id)
        if merged_id == state.customer_id or merged.merged_into is not None:
            return
        for journey in merged.journeys:
            self._store.unschedule(merged_id, journey.id)
            if state.journey(journey.id) is None:
                state.adopt(journey)
                state.note_deadline(journey.deadline(self._windows[journey.family]))
                self._schedule(state.customer_id, journey)
        for event_id, emitted in self._store.all_emitted(merged_id).items():
            self._store.put_emitted(state.customer_id, event_id, emitted)
        self._store.put_customer(CustomerJourneys(merged_id, merged_into=state.customer_id))

    def _place(self, state: CustomerJourneys, event: Interaction) -> list[CloudEvent]:
        touchpoint = self._catalog.touchpoints[event.touchpoint]
        assert touchpoint.family is not None  # only `identify` has no family
        refs = {name: value for name, value in event.refs.items() if name in self._journey_refs}
        device = self._normalizer.hash_device(event.device.id) if event.device else None
        touch = Touch(event.occurred_at, event.event_id, event.channel, event.touchpoint, device,
                      event.at)
        journey = self._assign(state, event, touchpoint.family, refs)
        if journey is not None:
            journey = state.own(journey)
        outputs: list[CloudEvent] = []
        if journey is None:
            journey = Journey(ids.journey_id(event.event_id), touchpoint.family, "open")
            state.journeys.append(journey)
            position = journey.add(touch)
            journey.add_refs(refs)
            state.note_deadline(journey.deadline(self._windows[journey.family]))
            outputs.append(self._started(state, journey, event, touch))
        else:
            position = journey.add(touch)
            journey.add_refs(refs)
            previous = journey.touches[position - 1] if position > 0 else None
            outputs.append(self._continued(state, journey, event, touch, position, previous))
            if previous is not None and handoff_kind(previous, touch) is not None:
                outputs.append(self._handoff(state, journey, event, touch, previous, position))
        if (touchpoint.goal and event.outcome == "completed"
                and journey.family == touchpoint.family and journey.status == "open"):
            journey.complete(event.occurred_at)
            outputs.append(self._completed(state, journey, event, touch, position))
        self._schedule(state.customer_id, journey)
        return outputs

    def _assign(
        self, state: CustomerJourneys, event: Interaction, family: str, refs: dict[str, str]
    ) -> Journey | None:
        """§7.2: a journey sharing an owned reference, else the most recent open journey
        of the family active within its window (one sharing a product first), else none.

        A late touchpoint that happened before its journey's goal was completed still
        belongs to that journey, so the grouping does not depend on arrival order."""
        catalog = self._catalog
        owned = {name: value for name, value in refs.items()
                 if name in catalog.owned_refs and catalog.usable_ref(value)}
        if owned:
            sharing = [j for j in state.journeys if j.shares_ref(owned, self._catalog.owned_refs)]
            if sharing:
                return max(sharing, key=_recency)
        window = self._catalog.window(family)
        moment = event.occurred_at
        # open, or completed only after `moment` (a touchpoint of the goal's own instant that
        # arrives after it comes after it, as ties keep arrival order); inlined: busy
        # customers have many journeys
        open_near = [j for j in state.journeys
                     if j.family == family
                     and (j.status == "open" or (j.completed_at is not None and moment < j.completed_at))
                     and j.near(moment, window)]
        if len(open_near) < 2:
            return open_near[0] if open_near else None
        product = frozenset({PRODUCT_REF})
        return max(open_near, key=lambda j: (j.shares_ref(refs, product), *_recency(j)))

    # -- idleness ----------------------------------------------------------------------

    def expire(self, now: datetime) -> list[CloudEvent]:
        """§7.6: abandon the open journeys, and close the completed ones, idle at `now`."""
        outputs: list[CloudEvent] = []
        for customer_id, journey_id in self._store.due(now):
            state = self._store.customer(customer_id)
            journey = state.journey(journey_id) if state is not None else None
            if state is None or journey is None:
                self._store.unschedule(customer_id, journey_id)
                continue
            outputs += self._expire_customer(state, now, only=journey_id)
            self._store.put_customer(state)
        return outputs

    def _expire_customer(
        self, state: CustomerJourneys, now: datetime, only: str | None = None
    ) -> list[CloudEvent]:
        outputs: list[CloudEvent] = []
        if state.idle_after is not None and now <= state.idle_after:
            return outputs  # runs twice per interaction: busy customers have many journeys
        windows = self._windows
        idle: list[tuple[datetime, Journey]] = []
        staying: list[datetime] = []
        for journey in state.journeys:
            deadline = journey.deadline(windows[journey.family])
            if now > deadline and (only is None or journey.id == only):
                idle.append((deadline, journey))
            else:
                staying.append(deadline)
        state.idle_after = min(staying, default=_NEVER)
        idle.sort(key=lambda pair: (pair[0], pair[1].id))
        for _deadline, journey in idle:
            state.journeys.remove(journey)
            self._store.unschedule(state.customer_id, journey.id)
            if journey.status == "open":
                outputs.append(self._abandoned(state, journey))
        return outputs

    def _schedule(self, customer_id: str, journey: Journey) -> None:
        window = self._catalog.window(journey.family)
        self._store.schedule(customer_id, journey.id, journey.deadline(window))

    # -- output events -----------------------------------------------------------------

    def _emit(
        self, event_type: str, state: CustomerJourneys, journey: Journey, touch: Touch,
        refs: dict[str, Any], extra: dict[str, Any], flagged: bool, *unique: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> CloudEvent:
        touchpoint = self._catalog.touchpoints[touch.touchpoint]
        data: dict[str, Any] = {
            "customer_id": state.customer_id,
            "journey_id": journey.id,
            "family": journey.family,
            "event_id": touch.event_id,
            "channel": touch.channel,
            "touchpoint": touch.touchpoint,
            "phase": touchpoint.phase,
            "occurred_at": touch.at,
            "refs": refs,
            "device_id": touch.device_id,
            "capability_violation": flagged,
        }
        data.update(extra)
        if attributes is not None:  # §3: the interaction's own, untouched
            data["attributes"] = attributes
        return cloudevent(
            source=self._source, event_type=event_type,
            event_id=ids.cloudevent_id(event_type, journey.id, *unique),
            subject=state.customer_id, time=touch.at, data=data,
        )

    def _started(
        self, state: CustomerJourneys, journey: Journey, event: Interaction, touch: Touch
    ) -> CloudEvent:
        return self._emit(JOURNEY_STARTED, state, journey, touch, dict(event.refs),
                          {"sequence": 1}, event.capability_violation, event.event_id,
                          attributes=event.attributes)

    def _continued(
        self, state: CustomerJourneys, journey: Journey, event: Interaction, touch: Touch,
        position: int, previous: Touch | None,
    ) -> CloudEvent:
        extra: dict[str, Any] = {
            "sequence": position + 1,
            "previous_event_id": previous.event_id if previous else None,
            "previous_channel": previous.channel if previous else None,
            "previous_touchpoint": previous.touchpoint if previous else None,
            "gap_seconds": _seconds(touch.occurred_at - previous.occurred_at) if previous else None,
            "same_channel": previous.channel == touch.channel if previous else None,
        }
        return self._emit(JOURNEY_CONTINUED, state, journey, touch, dict(event.refs), extra,
                          event.capability_violation, event.event_id, attributes=event.attributes)

    def _handoff(
        self, state: CustomerJourneys, journey: Journey, event: Interaction, touch: Touch,
        previous: Touch, position: int,
    ) -> CloudEvent:
        so_far = journey.touches[max(0, position - self._context_limit):position]
        extra: dict[str, Any] = {
            "kind": handoff_kind(previous, touch),
            "from": _side(previous),
            "to": _side(touch),
            "gap_seconds": _seconds(touch.occurred_at - previous.occurred_at),
            "assisted_to": self._catalog.channels[touch.channel].assisted,
            "context": {
                "touchpoints": [{"channel": t.channel, "touchpoint": t.touchpoint,
                                 "occurred_at": t.at} for t in so_far],
                "refs": {name: list(values) for name, values in journey.refs.items()},
            },
        }
        return self._emit(JOURNEY_HANDOFF, state, journey, touch, dict(event.refs), extra,
                          event.capability_violation, event.event_id, attributes=event.attributes)

    def _completed(
        self, state: CustomerJourneys, journey: Journey, event: Interaction, touch: Touch,
        position: int,
    ) -> CloudEvent:
        # The journey that led to the goal (at `position`): up to the goal by event time (a
        # late goal has touchpoints after it already), the span `duration_seconds` measures.
        led = journey.touches[:position + 1]
        extra = {
            "touchpoints": len(led),
            "channels": list(dict.fromkeys(t.channel for t in led)),
            "duration_seconds": _seconds(touch.occurred_at - led[0].occurred_at),
        }
        return self._emit(JOURNEY_COMPLETED, state, journey, touch, dict(event.refs), extra,
                          event.capability_violation, attributes=event.attributes)

    def _abandoned(self, state: CustomerJourneys, journey: Journey) -> CloudEvent:
        last = journey.touches[-1]
        window = self._catalog.window(journey.family)
        extra = {
            "idle_seconds": _seconds(window),
            "abandoned_at": rfc3339(journey.deadline(window)),
            "touchpoints": len(journey.touches),
        }
        refs = {name: values[-1] for name, values in journey.refs.items()}
        return self._emit(JOURNEY_ABANDONED, state, journey, last, refs, extra, False)


def handoff_kind(previous: Touch, touch: Touch) -> str | None:
    """§7.4: how `touch` hands off from the touch just before it in its journey, if it does."""
    if previous.channel != touch.channel:
        return "channel_switch"
    if previous.device_id and touch.device_id and previous.device_id != touch.device_id:
        return "device_switch"
    return None


def _recency(journey: Journey) -> tuple[datetime, str]:
    return (journey.last_activity, journey.id)


def _seconds(delta: Any) -> float:
    return float(delta.total_seconds())


def _side(touch: Touch) -> dict[str, Any]:
    return {
        "event_id": touch.event_id, "channel": touch.channel, "touchpoint": touch.touchpoint,
        "device_id": touch.device_id, "occurred_at": touch.at,
    }
