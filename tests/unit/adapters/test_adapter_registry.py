"""The adapter registry: every vendor behind one entry point, feeding one stitched journey."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from journey_stitcher.adapters import ADAPTERS, SegmentConfig, Touch, build_adapters
from journey_stitcher.config import StitcherConfig
from journey_stitcher.stitcher import Stitcher
from tests.unit.adapters.conftest import RECEIVED, accepted, only_event

NAMES = ["segment", "segment.track", "segment.page", "segment.screen", "segment.identify",
         "segment.batch", "twilio", "sendgrid", "shopify", "canonical", "csv"]


def test_the_registry_names_every_adapter() -> None:
    """The gateway's /v1/ingest/<name> and `publish --adapter` know exactly these names."""
    assert sorted(ADAPTERS) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00", b"null", b"[1, 2", b"\n\n"])
def test_no_adapter_raises_on_garbage(name: str, body: bytes) -> None:
    """Whatever arrives, an adapter answers with rejections, never with an exception."""
    result = ADAPTERS[name](body, {"X-Shopify-Topic": "orders/create"}, RECEIVED)
    assert result.events == []
    assert result.rejected, result
    assert all(r.reason and r.message for r in result.rejected)


@pytest.mark.parametrize("name", NAMES)
def test_a_naive_receipt_time_is_a_programming_error(name: str) -> None:
    """Which instant a naive datetime means is unknowable: the caller must pass an aware one."""
    with pytest.raises(ValueError, match="timezone-aware"):
        ADAPTERS[name](b"{}", {}, datetime(2026, 3, 2, 9, 15))


def test_build_adapters_applies_the_given_mappings() -> None:
    """A registry built with a custom Segment mapping converts with it, everywhere it is used."""
    adapters = build_adapters(segment=SegmentConfig(unmapped=Touch("inform")))
    call = {"type": "track", "event": "Video Played", "anonymousId": "a-1",
            "timestamp": "2026-03-01T18:00:00Z"}
    for name in ("segment", "segment.track", "segment.batch"):
        body = {"batch": [call]} if name == "segment.batch" else call
        assert only_event(adapters[name](orjson.dumps(body), {}, RECEIVED))["touchpoint"] == (
            "inform")


def test_one_customer_journey_across_email_web_and_courier() -> None:
    """E-mail click, anonymous browsing, login, order and the courier's scan make one journey."""
    adapters = ADAPTERS
    email = {"email": "giulia.rossi@example.it", "timestamp": 1772388000, "event": "click",
             "sg_event_id": "click-1", "sg_message_id": "msg-1",
             "url": "https://shop.example.it/p/espresso-ek-42"}
    browse = {"type": "track", "event": "Product Viewed", "messageId": "m-1",
              "anonymousId": "a-5c2e9d", "timestamp": "2026-03-01T18:04:00Z",
              "properties": {"product_id": "espresso-ek-42"}}
    login = {"type": "identify", "messageId": "m-2", "userId": "CRM-000731",
             "anonymousId": "a-5c2e9d", "timestamp": "2026-03-01T18:09:00Z",
             "traits": {"email": "giulia.rossi@example.it"}}
    order = {"type": "track", "event": "Order Completed", "messageId": "m-3",
             "userId": "CRM-000731", "anonymousId": "a-5c2e9d",
             "timestamp": "2026-03-01T18:15:00Z",
             "properties": {"order_id": "SO-2026-00412", "products": [
                 {"product_id": "espresso-ek-42"}]}}
    scan = ("occurred_at,channel,touchpoint,outcome,refs.order_id,device.id\n"
            "2026-03-04T14:12:00Z,courier,delivery,completed,SO-2026-00412,hh-0042\n")
    call = {"CallSid": "CA-9", "CallStatus": "completed", "Direction": "inbound",
            "From": "+393471234567", "To": "+390212345699",
            "Timestamp": "Wed, 04 Mar 2026 15:00:00 +0000"}

    events = [
        *adapters["sendgrid"](orjson.dumps([email]), {}, RECEIVED).events,
        *adapters["segment"](orjson.dumps({"batch": [browse, login, order]}), {}, RECEIVED).events,
        *adapters["csv"](scan.encode(), {}, RECEIVED).events,
        *adapters["twilio"](urlencode(call).encode(), {}, RECEIVED).events,
    ]
    assert len(events) == 6
    stitcher = Stitcher(StitcherConfig(), b"adapter-test-pepper")
    outputs = [out for event in events for out in stitcher.process(accepted(event))]

    def first(event_type: str, event_id: str) -> dict[str, Any]:
        return next(out for out in outputs
                    if out["type"] == event_type and out["data"]["event_id"] == event_id)

    recipient = first("journey.started", "sendgrid:click-1")["subject"]
    visitor = first("journey.started", "segment:m-1")
    merged = first("identity.merged", "segment:m-2")["data"]
    assert (merged["survivor_id"], merged["merged_id"]) == (recipient, visitor["subject"])

    browsing = visitor["data"]["journey_id"]
    ordered = first("journey.continued", "segment:m-3")
    delivered = first("journey.continued", events[4]["event_id"])
    assert ordered["subject"] == delivered["subject"] == recipient
    assert ordered["data"]["journey_id"] == delivered["data"]["journey_id"] == browsing
    assert first("journey.completed", "segment:m-3")["data"]["journey_id"] == browsing
    handoff = first("journey.handoff", events[4]["event_id"])["data"]
    assert (handoff["from"]["channel"], handoff["to"]["channel"]) == ("web", "courier")
    # The call comes from a number nobody gave: a separate customer, for now.
    assert first("journey.started", "twilio:CA-9:completed")["subject"] != recipient
