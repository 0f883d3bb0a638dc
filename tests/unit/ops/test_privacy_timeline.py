"""`show`'s timeline: touches by event time, handoffs marked as SPEC §7.4 defines them."""

from __future__ import annotations

from datetime import UTC, datetime

from journey_stitcher.identity.model import Profile
from journey_stitcher.journeys.model import CustomerJourneys, Journey, Touch
from journey_stitcher.ops.footprint import Footprint
from journey_stitcher.ops.timeline import NOTHING_OPEN, render_text, timeline

DEVICE_A, DEVICE_B = "a" * 32, "b" * 32


def touch(hour: int, event_id: str, channel: str, touchpoint: str, device: str | None) -> Touch:
    moment = datetime(2026, 5, 4, hour, tzinfo=UTC)
    return Touch(moment, event_id, channel, touchpoint, device, f"2026-05-04T{hour:02}:00:00Z")


def footprint(*journeys: Journey) -> Footprint:
    profile = Profile("cus_1", datetime(2026, 5, 1, tzinfo=UTC), {"email": ["e" * 32]},
                      ["ref:order_id:A-1"])
    return Footprint("cus_1", profile=profile, states={"cus_1": CustomerJourneys("cus_1", list(journeys))})


JOURNEY = Journey("jrn_1", "purchase", "open", [
    touch(8, "e1", "app", "compare", DEVICE_A),
    touch(9, "e2", "app", "compare", DEVICE_A),
    touch(10, "e3", "app", "purchase", DEVICE_B),
    touch(11, "e4", "courier", "pay", None),
    touch(12, "e5", "courier", "delivery", DEVICE_A),
], {"order_id": ["A-1"]})


def test_handoffs_are_marked_between_consecutive_touches() -> None:
    """Same device: nothing; another device on the same channel: device switch; another
    channel: channel switch; a missing device is not a device switch."""
    document = timeline(footprint(JOURNEY), "email:eeeeeeee…", hashing=True)
    marks = [t["handoff"] for t in document["journeys"][0]["touches"]]
    assert marks == [None, None, "device_switch", "channel_switch", None]


def test_the_text_abbreviates_hashes_and_names_the_channels_of_a_handoff() -> None:
    """Hashes show their first 8 characters; a channel switch says from where to where."""
    text = render_text(timeline(footprint(JOURNEY), "email:eeeeeeee…", hashing=True))
    assert "email ×1 (eeeeeeee…)" in text
    assert "device aaaaaaaa…" in text
    assert DEVICE_A not in text
    assert "<- handoff: app -> courier" in text
    assert "<- handoff: device switch" in text
    assert "order_id ×1" in text


def test_with_hashing_off_no_stored_value_is_shown() -> None:
    """Stored values are then raw: identifiers and devices print as ***."""
    document = timeline(footprint(JOURNEY), "email:***", hashing=False)
    assert document["profile"]["identifiers"] == {"email": ["***"]}
    assert {t["device_id"] for t in document["journeys"][0]["touches"]} == {"***", None}


def test_journeys_come_in_order_of_their_first_touch() -> None:
    """The earlier journey first, whatever order the state keeps them in."""
    later = Journey("jrn_2", "service", "open", [touch(7, "e0", "voice", "support", None)])
    document = timeline(footprint(JOURNEY, later), "x", hashing=True)
    assert [j["journey_id"] for j in document["journeys"]] == ["jrn_2", "jrn_1"]


def test_no_journey_left_says_why() -> None:
    """Closed journeys leave the state: the output says so instead of an empty list."""
    document = timeline(footprint(), "x", hashing=True)
    assert document["journeys"] == []
    assert document["note"] == NOTHING_OPEN
    assert NOTHING_OPEN in render_text(document)
