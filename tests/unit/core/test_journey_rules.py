"""Journey rules, one by one (SPEC §7)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from journey_stitcher.errors import InvalidInput
from tests.unit.core.conftest import Story, types

ANNA = [("customer_id", "C-ANNA")]


def test_first_touchpoint_starts_a_journey(story: Story) -> None:
    """A customer's first touchpoint opens a journey of its family at sequence 1."""
    out = story.tell("web", "inform", "2026-03-01T10:00:00Z", verified=ANNA)
    assert types(out) == ["journey.started"]
    data = out[0]["data"]
    assert (data["family"], data["phase"], data["sequence"]) == ("purchase", "pre_purchase", 1)
    assert data["journey_id"].startswith("jrn_")


def test_same_channel_same_device_continues_without_handoff(story: Story) -> None:
    """Browsing on, on the same site and phone, continues the journey and hands nothing off."""
    story.tell("web", "inform", "2026-03-01T10:00:00Z", verified=ANNA, device="phone-1")
    out = story.tell("web", "compare", "2026-03-01T10:20:00Z", verified=ANNA, device="phone-1")
    assert types(out) == ["journey.continued"]
    data = out[0]["data"]
    assert data["sequence"] == 2
    assert data["previous_touchpoint"] == "inform"
    assert data["gap_seconds"] == 1200
    assert data["same_channel"] is True


def test_switching_channel_mid_journey_is_a_channel_handoff(story: Story) -> None:
    """Comparing in the app and then calling the sales line hands off app → voice."""
    first = story.tell("app", "compare", "2026-03-01T10:00:00Z", verified=ANNA, refs={"product_id": "P1"})
    out = story.tell("voice", "verify", "2026-03-01T10:30:00Z", verified=ANNA)
    assert types(out) == ["journey.continued", "journey.handoff"]
    handoff = out[1]["data"]
    assert handoff["kind"] == "channel_switch"
    assert handoff["from"]["channel"] == "app"
    assert handoff["from"]["event_id"] == first[0]["data"]["event_id"]
    assert handoff["to"]["channel"] == "voice"
    assert handoff["assisted_to"] is True
    assert handoff["gap_seconds"] == 1800
    assert handoff["context"]["touchpoints"] == [
        {"channel": "app", "touchpoint": "compare", "occurred_at": "2026-03-01T10:00:00Z"}]
    assert handoff["context"]["refs"] == {"product_id": ["P1"]}
    assert out[1]["subject"] == out[0]["subject"]


def test_same_channel_on_another_device_is_a_device_handoff(story: Story) -> None:
    """Researching on the phone and buying on the laptop, both on the web, is a device switch."""
    story.tell("web", "compare", "2026-03-01T10:00:00Z", verified=ANNA, device="phone")
    out = story.tell("web", "purchase", "2026-03-01T20:00:00Z", verified=ANNA, device="laptop")
    assert types(out) == ["journey.continued", "journey.handoff"]
    handoff = out[1]["data"]
    assert handoff["kind"] == "device_switch"
    assert handoff["from"]["device_id"] != handoff["to"]["device_id"]


def test_a_placeholder_device_id_is_no_device(story: Story) -> None:
    """A tracker that sends `unknown` (or a blank) as the device id has not seen a device:
    the touchpoint carries no `device_id`, and the real device after it is no device switch."""
    first = story.tell("web", "compare", "2026-03-01T10:00:00Z", verified=ANNA, device="unknown")
    assert first[0]["data"]["device_id"] is None
    blank = story.tell("web", "compare", "2026-03-01T10:05:00Z", verified=ANNA, device="  ")
    assert types(blank) == ["journey.continued"]
    real = story.tell("web", "purchase", "2026-03-01T10:10:00Z", verified=ANNA, device="laptop")
    assert types(real) == ["journey.continued"]
    assert real[0]["data"]["device_id"] is not None


def test_a_shared_order_joins_the_journey_whatever_the_family(story: Story) -> None:
    """A support call about an order joins the purchase journey of that order (rule a)."""
    bought = story.tell("web", "purchase", "2026-03-01T10:00:00Z", verified=ANNA,
                        refs={"order_id": "O-1"}, outcome="completed")
    call = story.tell("voice", "support", "2026-03-02T10:00:00Z", verified=ANNA,
                      refs={"order_id": "O-1"})
    assert call[0]["type"] == "journey.continued"
    assert call[0]["data"]["journey_id"] == bought[0]["data"]["journey_id"]
    assert call[0]["data"]["family"] == "purchase"


def test_a_touchpoint_outside_the_window_starts_a_new_journey(story: Story) -> None:
    """Three days and a second after a support contact, a new support contact is a new journey."""
    first = story.tell("chat", "support", "2026-03-01T10:00:00Z", verified=ANNA)
    again = story.tell("chat", "support", "2026-03-04T10:00:01Z", verified=ANNA)
    assert types(again) == ["journey.abandoned", "journey.started"]
    assert again[1]["data"]["journey_id"] != first[0]["data"]["journey_id"]


def test_a_touchpoint_exactly_at_the_window_edge_still_joins(story: Story) -> None:
    """Exactly one window after the last touchpoint, the journey is still open."""
    story.tell("chat", "support", "2026-03-01T10:00:00Z", verified=ANNA)
    again = story.tell("chat", "complaint", "2026-03-04T10:00:00Z", verified=ANNA)
    assert types(again) == ["journey.continued"]


def test_other_families_run_as_parallel_journeys(story: Story) -> None:
    """A feedback touchpoint does not join an open purchase journey; it starts a loyalty one."""
    story.tell("web", "inform", "2026-03-01T10:00:00Z", verified=ANNA)
    out = story.tell("email", "feedback", "2026-03-01T11:00:00Z", verified=ANNA)
    assert types(out) == ["journey.started"]
    assert out[0]["data"]["family"] == "loyalty"


def test_the_journey_sharing_a_product_is_preferred(story: Story) -> None:
    """With two open purchase journeys, a touchpoint on the lamp joins the lamp's journey."""
    lamp = story.tell("app", "inform", "2026-03-01T10:00:00Z", verified=ANNA,
                      refs={"product_id": "LAMP"})
    chair = story.tell("web", "inform", "2026-03-01T10:30:00Z", ids=[("cookie_id", "ck")],
                       refs={"product_id": "CHAIR"})
    story.tell("web", "identify", "2026-03-01T10:40:00Z", verified=ANNA, ids=[("cookie_id", "ck")])
    out = story.tell("app", "compare", "2026-03-01T11:00:00Z", verified=ANNA,
                     refs={"product_id": "LAMP"})
    assert out[0]["data"]["journey_id"] == lamp[0]["data"]["journey_id"]
    other = story.tell("app", "compare", "2026-03-01T11:05:00Z", verified=ANNA)
    assert other[0]["data"]["journey_id"] == lamp[0]["data"]["journey_id"]  # the most recent
    assert lamp[0]["data"]["journey_id"] != chair[0]["data"]["journey_id"]


def test_a_completed_goal_completes_the_journey_once(story: Story) -> None:
    """Order completed emits journey.completed; the payment of the same order does not again."""
    story.tell("app", "compare", "2026-03-01T10:00:00Z", verified=ANNA, device="phone")
    out = story.tell("web", "purchase", "2026-03-01T12:00:00Z", verified=ANNA,
                     refs={"order_id": "O-1"}, outcome="completed", device="laptop")
    assert types(out) == ["journey.continued", "journey.handoff", "journey.completed"]
    done = out[2]["data"]
    assert done["touchpoints"] == 2
    assert done["channels"] == ["app", "web"]
    assert done["duration_seconds"] == 7200
    again = story.tell("web", "purchase", "2026-03-01T12:05:00Z", verified=ANNA,
                       refs={"order_id": "O-1"}, outcome="completed")
    assert "journey.completed" not in types(again)


def test_a_late_goal_counts_the_journey_that_led_to_it(story: Story) -> None:
    """The store's till reports the purchase of 11:00 only after the customer browsed the app
    again at 12:00: journey.completed describes the way to the goal (compare on the web,
    purchase in the store), as its duration does, not the browsing after it."""
    story.tell("web", "compare", "2026-03-01T10:00:00Z", verified=ANNA)
    story.tell("app", "inform", "2026-03-01T12:00:00Z", verified=ANNA)
    out = story.tell("store", "purchase", "2026-03-01T11:00:00Z", verified=ANNA,
                     outcome="completed")
    assert types(out)[-1] == "journey.completed"
    done = out[-1]["data"]
    assert (done["touchpoints"], done["channels"], done["duration_seconds"]) == (
        2, ["web", "store"], 3600)


def test_a_completed_journey_takes_only_touchpoints_of_its_order(story: Story) -> None:
    """After the purchase, browsing something else starts a new journey; the delivery joins."""
    bought = story.tell("web", "purchase", "2026-03-01T12:00:00Z", verified=ANNA,
                        refs={"order_id": "O-1"}, outcome="completed")
    browse = story.tell("web", "inform", "2026-03-01T13:00:00Z", verified=ANNA)
    assert types(browse) == ["journey.started"]
    delivery = story.tell("courier", "delivery", "2026-03-03T09:00:00Z", refs={"order_id": "O-1"})
    assert delivery[0]["data"]["journey_id"] == bought[0]["data"]["journey_id"]
    assert delivery[1]["data"]["kind"] == "channel_switch"


def test_a_late_touchpoint_from_before_the_purchase_joins_the_completed_journey(
    story: Story,
) -> None:
    """A comparison made before the order, arriving after it, belongs to the order's journey."""
    bought = story.tell("web", "purchase", "2026-03-01T12:00:00Z", verified=ANNA,
                        outcome="completed")
    late = story.tell("app", "compare", "2026-03-01T11:00:00Z", verified=ANNA)
    assert late[0]["data"]["journey_id"] == bought[0]["data"]["journey_id"]
    assert late[0]["data"]["sequence"] == 1


def test_an_idle_open_journey_is_abandoned_once(story: Story) -> None:
    """A cart left for more than fourteen days is abandoned, once, when time moves past it."""
    cart = story.tell("web", "purchase", "2026-03-01T10:00:00Z", verified=ANNA,
                      refs={"cart_id": "K-1"}, outcome="started")
    story.tell("web", "inform", "2026-03-20T10:00:00Z", verified=[("customer_id", "C-OTHER")])
    story.tell("web", "inform", "2026-03-25T10:00:00Z", verified=[("customer_id", "C-OTHER")])
    abandoned = story.of_type("journey.abandoned")
    assert len(abandoned) == 1
    data = abandoned[0]["data"]
    assert data["journey_id"] == cart[0]["data"]["journey_id"]
    assert data["event_id"] == cart[0]["data"]["event_id"]
    assert data["abandoned_at"] == "2026-03-15T10:00:00Z"
    assert abandoned[0]["subject"] == cart[0]["subject"]


def test_a_completed_journey_closes_silently(story: Story) -> None:
    """A completed journey idle for its window closes without an abandonment."""
    story.tell("store", "purchase", "2026-03-01T10:00:00Z", verified=ANNA, outcome="completed")
    story.stitcher.advance(datetime(2026, 4, 1, tzinfo=UTC))
    assert story.of_type("journey.abandoned") == []
    assert story.stitcher.journeys.customer(story.outputs[0]["subject"]).journeys == []  # type: ignore[union-attr]


def test_a_late_event_is_placed_by_event_time(story: Story) -> None:
    """A touchpoint that arrives late lands between the ones around it in event time."""
    story.tell("web", "inform", "2026-03-01T10:00:00Z", verified=ANNA, event_id="e1")
    story.tell("web", "purchase", "2026-03-01T12:00:00Z", verified=ANNA, event_id="e3")
    late = story.tell("app", "compare", "2026-03-01T11:00:00Z", verified=ANNA, event_id="e2")
    data = late[0]["data"]
    assert (data["sequence"], data["previous_event_id"]) == (2, "e1")
    assert late[1]["data"]["from"]["event_id"] == "e1"
    after = story.tell("web", "pay", "2026-03-01T12:30:00Z", verified=ANNA, event_id="e4")
    assert after[0]["data"]["sequence"] == 4


def test_touchpoints_of_the_same_instant_keep_their_arrival_order(story: Story) -> None:
    """Timestamps to the second collide (an e-mail delivered and opened in one second, a
    click and the app it opens): the one that arrived second comes after, whatever its id,
    so its journey.continued has a previous touchpoint and the switch is a handoff."""
    story.tell("web", "inform", "2026-03-01T10:00:00Z", verified=ANNA, event_id="z-web")
    same = story.tell("app", "compare", "2026-03-01T10:00:00Z", verified=ANNA, event_id="a-app")
    assert types(same) == ["journey.continued", "journey.handoff"]
    assert (same[0]["data"]["sequence"], same[0]["data"]["previous_event_id"]) == (2, "z-web")
    assert same[0]["data"]["gap_seconds"] == 0
    assert (same[1]["data"]["from"]["event_id"], same[1]["data"]["to"]["event_id"]) == (
        "z-web", "a-app")
    later = story.tell("app", "verify", "2026-03-01T10:00:00Z", verified=ANNA, event_id="0-app")
    assert (later[0]["data"]["sequence"], later[0]["data"]["previous_event_id"]) == (3, "a-app")
    assert types(later) == ["journey.continued"]


def test_a_touchpoint_of_the_goals_own_second_after_it_starts_a_new_journey(story: Story) -> None:
    """The order is placed and, in the same second, the app is opened to compare another
    product: it arrives after the goal, so it comes after it, and a completed journey takes
    only what shares its order (§7.5). Arriving before the goal, it would have joined."""
    story.tell("web", "compare", "2026-03-01T10:00:00Z", verified=ANNA)
    bought = story.tell("web", "purchase", "2026-03-01T10:01:00Z", verified=ANNA,
                        outcome="completed")
    after = story.tell("app", "compare", "2026-03-01T10:01:00Z", verified=ANNA)
    assert types(after) == ["journey.started"]
    assert after[0]["data"]["journey_id"] != bought[0]["data"]["journey_id"]


def test_a_late_event_before_every_touchpoint_has_no_previous(story: Story) -> None:
    """A touchpoint older than the whole journey joins at sequence 1 with no previous one."""
    story.tell("web", "compare", "2026-03-01T10:00:00Z", verified=ANNA)
    late = story.tell("app", "inform", "2026-03-01T09:00:00Z", verified=ANNA)
    assert types(late) == ["journey.continued"]
    assert late[0]["data"]["sequence"] == 1
    assert late[0]["data"]["previous_event_id"] is None


def test_a_duplicate_changes_nothing_and_re_emits_identically(story: Story) -> None:
    """Receiving the same interaction twice yields the same outputs and no new state."""
    first_event = story.event("web", "inform", "2026-03-01T10:00:00Z", verified=ANNA)
    story.send(first_event)
    event = story.event("app", "compare", "2026-03-01T10:10:00Z", verified=ANNA, device="d")
    first = story.send(event)
    second = story.send(event)
    assert first == second
    nxt = story.tell("app", "verify", "2026-03-01T10:20:00Z", verified=ANNA)
    assert nxt[0]["data"]["sequence"] == 3


def test_a_duplicate_with_another_time_does_not_move_the_clock(story: Story) -> None:
    """A redelivery whose `occurred_at` was changed in between (an adapter re-sent it) changes
    nothing, replay's clock included: it re-emits the first outputs, and no journey goes idle
    because of the time it carries."""
    first = story.tell("chat", "support", "2026-03-01T10:00:00Z", ids=[("cookie_id", "c1")])
    again = story.send(story.event("chat", "support", "2026-03-20T10:00:00Z",
                                   ids=[("cookie_id", "c1")], event_id=first[0]["data"]["event_id"]))
    assert again == first
    assert story.of_type("journey.abandoned") == []
    nxt = story.tell("chat", "support", "2026-03-01T11:00:00Z", ids=[("cookie_id", "c1")])
    assert types(nxt) == ["journey.continued"]
    assert nxt[0]["data"]["journey_id"] == first[0]["data"]["journey_id"]


def test_an_unsupported_touchpoint_is_rejected(story: Story) -> None:
    """A courier cannot take an online purchase: the event goes to the DLQ."""
    rejection = story.rejects(story.event("courier", "purchase", "2026-03-01T10:00:00Z",
                                          verified=ANNA))
    assert rejection.reason == "unsupported_touchpoint"


def test_the_capability_check_can_flag_instead(flagging_story: Story) -> None:
    """Configured to flag, an unsupported touchpoint is stitched and marked."""
    out = flagging_story.tell("courier", "purchase", "2026-03-01T10:00:00Z", verified=ANNA)
    assert out[0]["data"]["capability_violation"] is True


def test_identify_emits_only_identity_events(story: Story) -> None:
    """A login is not a touchpoint of any journey: it emits nothing for journeys."""
    assert story.tell("web", "identify", "2026-03-01T10:00:00Z", verified=ANNA) == []


def test_outputs_follow_the_spec_order(story: Story) -> None:
    """Identity events, then started/continued, then handoff, then completed."""
    story.tell("app", "compare", "2026-03-01T10:00:00Z", verified=ANNA)
    story.tell("chat", "inform", "2026-03-01T10:10:00Z", ids=[("cookie_id", "ck")])
    out = story.tell("web", "purchase", "2026-03-01T10:20:00Z", verified=ANNA,
                     ids=[("cookie_id", "ck")], outcome="completed")
    assert types(out) == ["identity.merged", "journey.continued", "journey.handoff",
                          "journey.completed"]


def test_time_is_the_interactions_own_occurred_at(story: Story) -> None:
    """`time` repeats the interaction's `occurred_at` as written when it is in UTC, and in UTC
    when it was written with another offset."""
    first = story.tell("web", "inform", "2026-03-01T10:00:00.000Z", verified=ANNA)
    second = story.tell("app", "compare", "2026-03-01T11:30:00+01:00", verified=ANNA)
    assert first[0]["time"] == first[0]["data"]["occurred_at"] == "2026-03-01T10:00:00.000Z"
    assert second[0]["time"] == "2026-03-01T10:30:00Z"
    assert second[1]["data"]["from"]["occurred_at"] == "2026-03-01T10:00:00.000Z"


def test_a_touchpoint_at_the_end_of_the_calendar_is_stitched(story: Story) -> None:
    """`9999-12-31`, an adapter's "never" placeholder, is a valid time: its journey's deadline
    (past the calendar's end) is the last instant there is, and nothing overflows."""
    first = story.tell("web", "inform", "9999-12-25T10:00:00Z", verified=ANNA)
    second = story.tell("app", "compare", "9999-12-31T23:59:59.999999Z", verified=ANNA)
    assert types(first) == ["journey.started"]
    assert types(second) == ["journey.continued", "journey.handoff"]
    story.stitcher.advance(datetime.max.replace(tzinfo=UTC))
    assert story.of_type("journey.abandoned") == []  # the deadline is the very last instant


def test_attributes_are_carried_to_the_journey_events_untouched(story: Story) -> None:
    """§3: an interaction's `attributes` reach every journey event it triggers, as given;
    an interaction without them emits none (and the abandonment, triggered by time, none)."""
    story.tell("web", "purchase", "2026-03-01T10:00:00Z", verified=ANNA, refs={"cart_id": "K-1"},
               outcome="started")
    attributes = {"queue": "vendite", "nested": [1, {"z": None}], "ok": True, "pct": 0.5}
    out = story.tell("voice", "purchase", "2026-03-01T10:30:00Z", verified=ANNA,
                     refs={"cart_id": "K-1"}, outcome="completed", attributes=attributes)
    assert types(out) == ["journey.continued", "journey.handoff", "journey.completed"]
    assert [e["data"]["attributes"] for e in out] == [attributes] * 3
    plain_out = story.tell("web", "inform", "2026-03-02T10:00:00Z", verified=ANNA)
    assert "attributes" not in plain_out[0]["data"]
    idle = story.stitcher.advance(datetime(2026, 4, 1, tzinfo=UTC))
    assert types(idle) == ["journey.abandoned"]
    assert "attributes" not in idle[0]["data"]


def nested(levels: int) -> dict[str, object]:
    """`attributes` nesting objects and arrays `levels` deep, the outer object counted."""
    inner: object = "bottom"
    for level in range(levels - 1):
        inner = [inner] if level % 2 else {"k": inner}
    return {"k": inner}


def test_attributes_nested_too_deep_are_refused_before_they_reach_an_output(story: Story) -> None:
    """Attributes 32 levels deep are carried; 33 levels go to the DLQ as a schema violation
    naming the field, instead of failing every write of the outputs later (a JSON writer
    stops at some depth: orjson at 254)."""
    out = story.tell("web", "inform", "2026-03-01T10:00:00Z", verified=ANNA, attributes=nested(32))
    assert out[0]["data"]["attributes"] == nested(32)
    for levels in (33, 300, 1000):  # written by hand: a JSON writer stops before 1000
        event = story.event("web", "inform", "2026-03-01T10:01:00Z", verified=ANNA)
        line = orjson.dumps(event)[:-1] + b',"attributes":' + b'{"k":[' * (levels // 2) + \
            (b'{}' if levels % 2 else b'"bottom"') + b']}' * (levels // 2) + b'}'
        with pytest.raises(InvalidInput) as caught:
            story.stitcher.process_line(line)
        assert caught.value.reason == "schema_violation"
        assert caught.value.message.startswith("attributes: ")
        assert "32 levels" in caught.value.message
