"""The vendors' own published payloads, quirks included, each converted or precisely rejected.

The samples live outside the repository (``../shared/vendor-samples``, see its SOURCES.md) and
are read from there, never copied in. Every file must have a verdict below: a new sample fails
the test until someone judges what the adapter should do with it.

A verdict per item, in order: ``event:<touchpoint>``, ``rejected:<reason>`` or
``skipped:<reason>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from journey_stitcher.adapters import ADAPTERS, AdapterResult, SegmentConfig, Touch
from journey_stitcher.adapters.segment import segment_adapter
from tests.unit.adapters.conftest import RECEIVED, VENDOR_SAMPLES, accepted, needs_vendor_samples

NOT_A_TOUCHPOINT = "skipped:not_a_touchpoint"
UNMAPPED = "skipped:unmapped_event"

SEGMENT: dict[str, tuple[str, list[str]]] = {
    # file: (adapter the gateway would use for it, verdicts)
    "b2b_signed_up.json": ("segment", [UNMAPPED]),
    "common_fields_track.json": ("segment", [UNMAPPED]),
    "ecommerce_v1_order_completed_legacy.json": ("segment", ["event:purchase"]),
    # The e-commerce examples are bare analytics.track() arguments: no userId, no anonymousId.
    "ecommerce_v2_checkout_started.json": ("segment", ["rejected:no_identity"]),
    "ecommerce_v2_order_completed.json": ("segment", ["rejected:no_identity"]),
    "ecommerce_v2_product_added.json": ("segment", ["rejected:no_identity"]),
    "ecommerce_v2_product_viewed.json": ("segment", ["rejected:no_identity"]),
    "http_api_v1_batch_envelope.json": ("segment.batch", [
        "event:identify", UNMAPPED, "rejected:invalid_timestamp", "rejected:invalid_timestamp"]),
    "http_api_v1_batch_item1_identify.json": ("segment", ["event:identify"]),
    "http_api_v1_batch_item2_track.json": ("segment", [UNMAPPED]),
    "http_api_v1_batch_item3_identify.json": ("segment", ["rejected:invalid_timestamp"]),
    "http_api_v1_batch_item4_track.json": ("segment", ["rejected:invalid_timestamp"]),
    "http_api_v1_identify.json": ("segment.identify", ["event:identify"]),
    "http_api_v1_page.json": ("segment.page", ["event:inform"]),
    "http_api_v1_screen.json": ("segment.screen", ["event:inform"]),
    "http_api_v1_track.json": ("segment.track", [UNMAPPED]),
    "identify_complete.json": ("segment", ["event:identify"]),
    "identify_phone_trait.json": ("segment", ["event:identify"]),
    "mobile_application_backgrounded.json": ("segment", [UNMAPPED]),
    "mobile_application_installed.json": ("segment", [UNMAPPED]),
    "mobile_application_opened.json": ("segment", [UNMAPPED]),
    "mobile_deep_link_opened.json": ("segment", [UNMAPPED]),
    "mobile_install_attributed.json": ("segment", [UNMAPPED]),
    "page_complete.json": ("segment", ["event:inform"]),
    "screen_complete.json": ("segment", ["event:inform"]),
    "track_android_context.json": ("segment", [UNMAPPED]),
    "track_complete.json": ("segment", [UNMAPPED]),
    "track_context_traits.json": ("segment", [UNMAPPED]),
}

SENDGRID: dict[str, list[str]] = {
    "event_ab_test_processed_object.json": [NOT_A_TOUCHPOINT],
    "event_ab_winner_delivered_object.json": [NOT_A_TOUCHPOINT],
    "event_bounce.json": [NOT_A_TOUCHPOINT],
    "event_bounce_blocked.json": [NOT_A_TOUCHPOINT],
    "event_category_array.json": ["event:inform", "event:inform"],
    "event_category_string.json": ["event:inform", "event:inform"],
    "event_click.json": ["event:inform"],
    "event_click_full.json": ["event:inform"],
    "event_click_unique_args.json": ["event:inform"],
    "event_deferred.json": [NOT_A_TOUCHPOINT],
    "event_delivered.json": [NOT_A_TOUCHPOINT],
    "event_dropped.json": [NOT_A_TOUCHPOINT],
    "event_group_resubscribe.json": ["event:feedback"],
    "event_group_unsubscribe.json": ["event:feedback"],
    "event_legacy_newsletter_unsubscribe.json": ["event:feedback"],
    "event_marketing_campaign_processed_object.json": [NOT_A_TOUCHPOINT],
    "event_open.json": ["event:inform"],
    "event_processed.json": [NOT_A_TOUCHPOINT],
    "event_processed_ip_pool.json": [NOT_A_TOUCHPOINT],
    "event_reserved_keys_unique_args.json": [NOT_A_TOUCHPOINT],
    "event_singlesend_open_ms_timestamp.json": ["event:inform"],
    "event_spamreport.json": ["event:feedback"],
    "event_unsubscribe.json": ["event:feedback"],
    # The documentation's overview array gives every event the placeholder sg_event_id
    # "sg_event_id": the open is kept, the later engagement events under the same id rejected.
    "events.json": [
        NOT_A_TOUCHPOINT, NOT_A_TOUCHPOINT, NOT_A_TOUCHPOINT, "event:inform",
        "rejected:duplicate_event_id", NOT_A_TOUCHPOINT, NOT_A_TOUCHPOINT,
        "rejected:duplicate_event_id", "rejected:duplicate_event_id",
        "rejected:duplicate_event_id", "rejected:duplicate_event_id",
    ],
    # The signed payloads of the signature vectors, posted as the webhook body.
    "signature_vector.json": [NOT_A_TOUCHPOINT],  # a dropped event
    "signature_vector_nodejs.json": ["rejected:no_identity"],  # {"event": "test_event"}, no email
}

pytestmark = needs_vendor_samples


def _files(vendor: str) -> list[Path]:
    folder = VENDOR_SAMPLES / vendor
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _body(path: Path) -> bytes:
    if path.name.startswith("signature_vector"):
        payload: str = orjson.loads(path.read_bytes())["payload"]
        return payload.encode()
    return path.read_bytes()


def verdicts(result: AdapterResult) -> list[str]:
    """One verdict per item, in item order (events fill the positions nobody else took)."""
    placed: dict[int, str] = {}
    for rejection in result.rejected:
        placed[rejection.index if rejection.index is not None else -1] = (
            f"rejected:{rejection.reason}")
    for skip in result.skipped:
        assert skip.index is not None
        placed[skip.index] = f"skipped:{skip.reason}"
    total = len(result.events) + len(placed)
    events = iter(result.events)
    return [placed[i] if i in placed else f"event:{next(events)['touchpoint']}"
            for i in range(total)] if -1 not in placed else [placed[-1]]


def convert(adapter: str, path: Path) -> AdapterResult:
    result = ADAPTERS[adapter](_body(path), {}, RECEIVED)
    for event in result.events:
        accepted(event)
    for rejected in (*result.rejected, *result.skipped):
        assert rejected.message, rejected
    return result


def test_every_sample_has_a_verdict() -> None:
    """No published sample goes unjudged, and no verdict refers to a missing sample."""
    assert {p.name for p in _files("segment")} == set(SEGMENT)
    assert {p.name for p in _files("sendgrid")} == set(SENDGRID)


@pytest.mark.parametrize("path", _files("segment"), ids=lambda p: p.name)
def test_segment_samples_convert_or_are_rejected_precisely(path: Path) -> None:
    """Each published Segment payload gets the verdict judged right for it."""
    adapter, expected = SEGMENT[path.name]
    assert verdicts(convert(adapter, path)) == expected


@pytest.mark.parametrize("path", _files("sendgrid"), ids=lambda p: p.name)
def test_sendgrid_samples_convert_or_are_rejected_precisely(path: Path) -> None:
    """Each published SendGrid payload gets the verdict judged right for it."""
    assert verdicts(convert("sendgrid", path)) == SENDGRID[path.name]


def _sample(vendor: str, name: str) -> bytes:
    return (VENDOR_SAMPLES / vendor / name).read_bytes()


def _events(adapter: str, vendor: str, name: str) -> list[dict[str, Any]]:
    return ADAPTERS[adapter](_sample(vendor, name), {}, RECEIVED).events


def test_http_api_bodies_without_type_need_their_endpoint() -> None:
    """Posted to the generic endpoint, the typeless HTTP API examples are rejected, type named."""
    for name in ("http_api_v1_identify.json", "http_api_v1_page.json",
                 "http_api_v1_screen.json", "http_api_v1_track.json"):
        result = ADAPTERS["segment"](_sample("segment", name), {}, RECEIVED)
        assert [(r.reason, r.field) for r in result.rejected] == [("missing_field", "type")]


def test_the_documented_bad_batch_timestamp_is_named() -> None:
    """The batch example's "2015-2-02T00:30:08.276Z" is rejected quoting the value."""
    result = ADAPTERS["segment.batch"](
        _sample("segment", "http_api_v1_batch_envelope.json"), {}, RECEIVED)
    assert [r.index for r in result.rejected] == [2, 3]
    assert "'2015-2-02T00:30:08.276Z'" in result.rejected[0].message
    assert result.rejected[0].field == "timestamp"


def test_the_batch_context_makes_the_batch_an_app_batch() -> None:
    """The batch-level context.device (a phone) applies to its identify call."""
    (identify,) = _events("segment.batch", "segment", "http_api_v1_batch_envelope.json")
    alone = _events("segment", "segment", "http_api_v1_batch_item1_identify.json")[0]
    assert (identify["channel"], alone["channel"]) == ("app", "web")
    assert identify["identifiers"] == [
        {"type": "customer_id", "value": "019mr8mf4r", "verified": True},
        {"type": "email", "value": "jake@yahoo.com", "verified": True},
    ]


def test_same_bodies_on_page_and_screen_endpoints_are_different_events() -> None:
    """The page and screen examples are byte for byte the same: the endpoint keeps them apart."""
    page = _events("segment.page", "segment", "http_api_v1_page.json")[0]
    screen = _events("segment.screen", "segment", "http_api_v1_screen.json")[0]
    assert page["event_id"] != screen["event_id"]
    assert (page["channel"], screen["channel"]) == ("web", "app")


def test_reused_message_ids_of_the_docs_collide() -> None:
    """The identify, page and screen examples share one messageId, so they share an event id."""
    ids = {_events("segment", "segment", name)[0]["event_id"]
           for name in ("identify_complete.json", "page_complete.json", "screen_complete.json")}
    assert ids == {"segment:022bb90c-bbac-11e4-8dfc-aa07a5b093db"}


def test_the_legacy_order_keeps_its_camel_case_order_id() -> None:
    """The v1 Order Completed (action, orderId, products[].id) completes the purchase."""
    (event,) = _events("segment", "segment", "ecommerce_v1_order_completed_legacy.json")
    assert event["refs"] == {"order_id": "50314b8e9bcf000000000000",
                             "product_id": "507f1f77bcf86cd799439011"}
    assert event["occurred_at"] == "2026-03-02T09:15:00Z"  # no time at all: the receipt's


def test_with_a_catch_all_mapping_every_identified_sample_converts() -> None:
    """Mapping unmapped events to `inform` turns every sample with an identity into an event."""
    adapter = segment_adapter(config=SegmentConfig(unmapped=Touch("inform")))
    common = adapter(_sample("segment", "common_fields_track.json"), {}, RECEIVED).events[0]
    assert common["channel"] == "app"
    assert common["device"] == {"id": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB",
                                "type": "smartphone"}
    assert {"type": "device_id", "value": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB",
            "verified": False} in common["identifiers"]
    android = adapter(_sample("segment", "track_android_context.json"), {}, RECEIVED).events[0]
    assert (android["channel"], android["device"]) == ("app", {"id": "123",
                                                                "type": "smartphone"})
    for path in _files("segment"):
        for event in adapter(path.read_bytes(), {}, RECEIVED).events:
            accepted(event)


def test_sendgrid_quirky_timestamps_are_read() -> None:
    """A millisecond timestamp (Single Send) is read as milliseconds, not the year 52000."""
    (event,) = _events("sendgrid", "sendgrid", "event_singlesend_open_ms_timestamp.json")
    assert event["occurred_at"] == "2020-06-09T18:19:12.372Z"


def test_sendgrid_legacy_events_without_id_get_stable_ids() -> None:
    """Events without sg_event_id get content-hash ids: the same object, the same id."""
    array = _events("sendgrid", "sendgrid", "event_category_array.json")
    string = _events("sendgrid", "sendgrid", "event_category_string.json")
    assert all(e["event_id"].startswith("sendgrid:h:") for e in array + string)
    # jane.doe's "olduser" open is the same object in both examples
    assert array[1]["event_id"] == string[1]["event_id"]
    assert array[0]["event_id"] != string[0]["event_id"]
