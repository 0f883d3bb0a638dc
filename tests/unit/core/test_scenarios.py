"""The seeds' stories, told end to end through the stitching core."""

from __future__ import annotations

from tests.unit.core.conftest import Story, types

MARCO = [("customer_id", "CRM-MARCO")]
MARCO_PHONE = "+39 347 555 0101"


def test_research_on_the_phone_buy_on_the_laptop_pay_the_courier_call_support(story: Story) -> None:
    """Marco compares on his smartphone, buys on the laptop, pays the courier cash and calls
    support about the delivery: one journey, handed off phone → laptop → courier → voice."""
    research = story.tell("web", "compare", "2026-05-04T08:10:00+02:00", device="marco-phone",
                          ids=[("cookie_id", "ck-phone")], refs={"product_id": "BIKE-7"})
    story.tell("web", "identify", "2026-05-04T21:00:00+02:00", device="marco-laptop",
               verified=MARCO, ids=[("cookie_id", "ck-phone"), ("phone", MARCO_PHONE)])
    buy = story.tell("web", "purchase", "2026-05-04T21:05:00+02:00", device="marco-laptop",
                     verified=MARCO, refs={"order_id": "ORD-881", "product_id": "BIKE-7"},
                     outcome="completed")
    cash = story.tell("courier", "pay", "2026-05-06T11:30:00+02:00", refs={"order_id": "ORD-881"})
    call = story.tell("voice", "support", "2026-05-06T15:00:00+02:00",
                      ids=[("phone", "+39-347-555-0101")], refs={"order_id": "ORD-881"})
    journey = research[0]["data"]["journey_id"]
    assert types(buy) == ["journey.continued", "journey.handoff", "journey.completed"]
    assert buy[1]["data"]["kind"] == "device_switch"
    assert [e["data"]["journey_id"] for e in (buy[0], cash[0], call[0])] == [journey] * 3
    assert cash[1]["data"]["from"]["channel"] == "web"
    assert cash[1]["data"]["to"]["channel"] == "courier"
    assert call[1]["data"]["to"]["channel"] == "voice"
    assert call[1]["data"]["assisted_to"] is True
    assert [t["channel"] for t in call[1]["data"]["context"]["touchpoints"]] == [
        "web", "web", "courier"]
    assert call[1]["data"]["context"]["refs"]["order_id"] == ["ORD-881"]
    assert len({e["subject"] for e in story.outputs}) == 1


def test_order_online_pick_up_in_store(story: Story) -> None:
    """Click and collect: the web order and the store pickup are one journey handed off to
    an assisted physical channel."""
    order = story.tell("web", "purchase", "2026-05-10T19:00:00Z", verified=[("email", "g@x.it")],
                       refs={"order_id": "CC-1"}, outcome="completed")
    pickup = story.tell("store", "pickup", "2026-05-12T17:00:00Z", verified=[("email", "g@x.it")],
                        refs={"order_id": "CC-1"}, outcome="completed")
    assert types(pickup) == ["journey.continued", "journey.handoff"]
    assert pickup[0]["data"]["journey_id"] == order[0]["data"]["journey_id"]
    assert pickup[1]["data"]["to"]["channel"] == "store"
    assert pickup[1]["data"]["assisted_to"] is True


def test_a_chat_escalated_to_a_call(story: Story) -> None:
    """A support chat that ends in a phone call is one service journey with a chat → voice
    handoff; the call resolving the case completes it."""
    chat = story.tell("chat", "support", "2026-05-20T09:00:00Z", verified=[("email", "l@x.it")],
                      refs={"case_id": "CASE-9"}, outcome="started")
    call = story.tell("voice", "support", "2026-05-20T09:12:00Z", ids=[("phone", "+393401112233")],
                      verified=[("email", "l@x.it")], refs={"case_id": "CASE-9"},
                      outcome="completed")
    assert types(call) == ["journey.continued", "journey.handoff", "journey.completed"]
    assert call[0]["data"]["journey_id"] == chat[0]["data"]["journey_id"]
    assert call[0]["data"]["family"] == "service"
    assert call[1]["data"]["gap_seconds"] == 720
    assert call[2]["data"]["channels"] == ["chat", "voice"]
