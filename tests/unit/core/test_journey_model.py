"""`Journey`'s ordered-touch helpers agree with their plain definitions (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from journey_stitcher.journeys.model import Journey, Touch

T0 = datetime(2026, 5, 1, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=10_000)


def _journey(offsets: list[int]) -> Journey:
    journey = Journey("jrn_1", "purchase", "open")
    for n, offset in enumerate(offsets):
        journey.add(Touch(T0 + timedelta(minutes=offset), f"e{n}", "web", "inform"))
    return journey


@given(st.lists(minutes, min_size=1, max_size=40), minutes, st.integers(min_value=0, max_value=3_000))
def test_near_is_any_touch_within_the_window(offsets: list[int], at: int, window: int) -> None:
    journey = _journey(offsets)
    moment, span = T0 + timedelta(minutes=at), timedelta(minutes=window)
    expected = any(abs(t.occurred_at - moment) <= span for t in journey.touches)
    assert journey.near(moment, span) is expected


@given(st.lists(minutes, min_size=1, max_size=40))
def test_add_keeps_time_order_and_returns_the_position(offsets: list[int]) -> None:
    journey = Journey("jrn_1", "purchase", "open")
    for n, offset in enumerate(offsets):
        touch = Touch(T0 + timedelta(minutes=offset), f"e{n:03}", "web", "inform")
        position = journey.add(touch)
        assert journey.touches[position] == touch
        assert journey.touches == sorted(journey.touches)
    assert len(journey.touches) == len(offsets)


class _Stored:
    """Touches as a store read them, counting how often they are decoded."""

    def __init__(self, touches: list[Touch]) -> None:
        self._touches = touches
        self.decoded = 0

    def last_moment(self) -> datetime:
        return self._touches[-1].occurred_at

    def decode(self) -> list[Touch]:
        self.decoded += 1
        return list(self._touches)


def test_a_stored_journey_decodes_its_touches_once_and_only_when_they_are_used() -> None:
    touches = [Touch(T0 + timedelta(minutes=m), f"e{m}", "web", "inform") for m in (0, 5, 9)]
    stored = _Stored(touches)
    journey = Journey.from_store("jrn_1", "purchase", "open", stored, {}, None)
    assert journey.deadline(timedelta(days=1)) == T0 + timedelta(minutes=9, days=1)
    assert journey.shares_ref({"order_id": "A"}, frozenset({"order_id"})) is False
    assert stored.decoded == 0
    assert journey.near(T0 + timedelta(minutes=18), timedelta(minutes=10))
    assert journey.touches == touches
    assert stored.decoded == 1
    assert journey.stored is stored  # unchanged: its stored form still stands for it
    journey.add(Touch(T0 + timedelta(minutes=7), "e7", "app", "inform"))
    assert stored.decoded == 1
    assert journey.stored is None
    assert journey.encoded is None
    assert [t.event_id for t in journey.touches] == ["e0", "e5", "e7", "e9"]
    assert journey == Journey("jrn_1", "purchase", "open", sorted([*touches, journey.touches[2]]))


def test_refs_already_held_change_nothing() -> None:
    stored = _Stored([Touch(T0, "e0", "web", "inform")])
    journey = Journey.from_store("jrn_1", "purchase", "open", stored, {"product_id": ["SKU-1"]}, None)
    journey.add_refs({"product_id": "SKU-1"})
    assert journey.stored is stored
    assert stored.decoded == 0
    journey.add_refs({"product_id": "SKU-2"})
    assert journey.stored is None
    assert journey.refs == {"product_id": ["SKU-1", "SKU-2"]}
