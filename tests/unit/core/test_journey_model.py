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
