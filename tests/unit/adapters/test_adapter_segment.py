"""Web and app through Segment: calls become touchpoints of the right customer and device."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from journey_stitcher.adapters import ADAPTERS, AdapterError, SegmentConfig, Skip, Touch
from journey_stitcher.adapters.segment import segment_adapter, segment_event
from tests.unit.adapters.conftest import RECEIVED, accepted, only_event, reasons

CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/122.0 Safari/537.36")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1")


def browse(**overrides: Any) -> dict[str, Any]:
    """Giulia, not logged in, looks at a coffee machine on the shop's web site."""
    call: dict[str, Any] = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": "ajs-next-7f3c1e",
        "anonymousId": "a-5c2e9d",
        "timestamp": "2026-03-01T18:04:12.517+01:00",
        "sentAt": "2026-03-01T18:04:12.900+01:00",
        "properties": {"product_id": "espresso-ek-42", "name": "Espresso EK 42", "price": 249},
        "context": {
            "page": {"url": "https://shop.example.it/p/espresso-ek-42", "path": "/p/espresso-ek-42"},
            "userAgent": CHROME_MAC,
            "library": {"name": "analytics.js", "version": "next-1.66.0"},
        },
    }
    call.update(overrides)
    return call


def login(**overrides: Any) -> dict[str, Any]:
    """Giulia logs in: the site identifies her account on the same browser."""
    call: dict[str, Any] = {
        "type": "identify",
        "messageId": "ajs-next-81aa02",
        "userId": "CRM-000731",
        "anonymousId": "a-5c2e9d",
        "timestamp": "2026-03-01T18:09:40Z",
        "traits": {"email": "giulia.rossi@example.it", "phone": "+39 347 123 4567",
                   "firstName": "Giulia"},
        "context": {"userAgent": CHROME_MAC},
    }
    call.update(overrides)
    return call


def app_screen(**overrides: Any) -> dict[str, Any]:
    """Giulia opens the product in the shop's iPhone app."""
    call: dict[str, Any] = {
        "type": "screen",
        "name": "Product Detail",
        "messageId": "9B1C7A4E-2F0D-4E55-8E0A-3C1D2B7F6A10",
        "anonymousId": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
        "userId": "CRM-000731",
        "timestamp": "2026-03-02T07:58:01.004Z",
        "properties": {"product_id": "espresso-ek-42"},
        "context": {
            "app": {"name": "Shop", "version": "5.2.0", "build": "520"},
            "device": {"id": "D1E2A3F4-0B5C-4D6E-8F70-112233445566", "type": "ios",
                       "model": "iPhone15,3", "manufacturer": "Apple"},
            "os": {"name": "iOS", "version": "17.3"},
            "library": {"name": "analytics-swift", "version": "1.5.0"},
        },
    }
    call.update(overrides)
    return call


def run(body: Any, adapter: str = "segment") -> Any:
    return ADAPTERS[adapter](orjson.dumps(body), {}, RECEIVED)


# --- who and where -------------------------------------------------------------------------------


def test_anonymous_product_view_on_the_web_informs_with_the_cookie() -> None:
    """An anonymous product view is an `inform` touchpoint on the web, known by its cookie."""
    event = only_event(run(browse()))
    assert event == {
        "event_id": "segment:ajs-next-7f3c1e",
        "occurred_at": "2026-03-01T17:04:12.517Z",
        "channel": "web",
        "touchpoint": "inform",
        "identifiers": [{"type": "cookie_id", "value": "a-5c2e9d", "verified": False}],
        "refs": {"product_id": "espresso-ek-42"},
        "device": {"id": "a-5c2e9d", "type": "desktop"},
        "source": "segment",
        "attributes": {"segment_type": "track", "event": "Product Viewed",
                       "url": "https://shop.example.it/p/espresso-ek-42"},
    }


def test_login_links_the_cookie_to_the_verified_account_and_its_contacts() -> None:
    """An identify with a userId vouches for the account's e-mail and phone; the cookie rides along."""
    event = only_event(run(login()))
    assert event["touchpoint"] == "identify"
    assert event["identifiers"] == [
        {"type": "customer_id", "value": "CRM-000731", "verified": True},
        {"type": "cookie_id", "value": "a-5c2e9d", "verified": False},
        {"type": "email", "value": "giulia.rossi@example.it", "verified": True},
        {"type": "phone", "value": "+39 347 123 4567", "verified": True},
    ]


def test_anonymous_newsletter_signup_keeps_the_typed_email_unverified() -> None:
    """An identify without a userId carries a typed-in e-mail, which proves nothing."""
    event = only_event(run(login(userId=None, traits={"email": "g.rossi@example.it"})))
    assert {"type": "email", "value": "g.rossi@example.it", "verified": False} in (
        event["identifiers"])


def test_cached_context_traits_on_a_track_call_are_unverified() -> None:
    """The traits analytics.js caches and attaches to later calls are hints, not proof."""
    call = browse(userId="CRM-000731")
    call["context"]["traits"] = {"email": "giulia.rossi@example.it", "phone": 3471234567}
    event = only_event(run(call))
    assert event["identifiers"] == [
        {"type": "customer_id", "value": "CRM-000731", "verified": True},
        {"type": "cookie_id", "value": "a-5c2e9d", "verified": False},
        {"type": "email", "value": "giulia.rossi@example.it", "verified": False},
    ]


def test_trusting_identify_traits_can_be_turned_off() -> None:
    """A site whose identify calls are made client-side can keep all traits unverified."""
    adapter = segment_adapter(config=SegmentConfig(trust_identify_traits=False))
    result = adapter(orjson.dumps(login()), {}, RECEIVED)
    verified = {i["type"] for i in only_event(result)["identifiers"] if i["verified"]}
    assert verified == {"customer_id"}


def test_app_screen_uses_the_device_id_and_the_app_channel() -> None:
    """A screen in the iPhone app is on the app channel, on the phone its context names."""
    event = only_event(run(app_screen()))
    assert event["channel"] == "app"
    assert event["touchpoint"] == "inform"
    assert event["identifiers"] == [
        {"type": "customer_id", "value": "CRM-000731", "verified": True},
        {"type": "device_id", "value": "D1E2A3F4-0B5C-4D6E-8F70-112233445566", "verified": False},
    ]
    assert event["device"] == {"id": "D1E2A3F4-0B5C-4D6E-8F70-112233445566", "type": "smartphone"}


def test_app_call_without_a_device_id_is_known_by_its_anonymous_id() -> None:
    """An Android track call without context.device.id uses the install's anonymousId as device."""
    call = browse(anonymousId="f1e2d3c4-install", context={
        "os": {"name": "Android", "version": "14"},
        "library": {"name": "analytics-kotlin", "version": "1.14.2"},
        "userAgent": "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A)",
    })
    event = only_event(run(call))
    assert event["channel"] == "app"
    assert event["identifiers"] == [
        {"type": "device_id", "value": "f1e2d3c4-install", "verified": False}]
    assert event["device"] == {"id": "f1e2d3c4-install", "type": "smartphone"}


def test_segment_channel_field_decides_between_browser_and_mobile() -> None:
    """Segment's own `channel` (browser or mobile) wins over guesses from the context."""
    web = only_event(run(browse(channel="browser", context={"app": {"name": "Shop"}})))
    app = only_event(run(browse(channel="mobile", context={})))
    assert (web["channel"], app["channel"]) == ("web", "app")


@pytest.mark.parametrize(
    ("context", "device_type"),
    [
        ({"device": {"id": "d-1", "type": "ios", "model": "iPad13,4"}}, "tablet"),
        ({"device": {"id": "d-1", "type": "android"}}, "smartphone"),
        ({"device": {"id": "d-1", "type": "watchos"}}, "smartwatch"),
        ({"userAgent": SAFARI_IPHONE}, "smartphone"),
        ({"userAgentData": {"mobile": True, "platform": "Android"}}, "smartphone"),
        ({"userAgent": CHROME_MAC}, "desktop"),
    ],
)
def test_device_type_comes_from_the_device_or_the_browser(
    context: dict[str, Any], device_type: str
) -> None:
    """The device is a phone, a tablet, a watch or a desktop as its context tells."""
    event = only_event(run(browse(context=context)))
    assert event["device"]["type"] == device_type


def test_a_web_call_without_user_agent_has_a_device_without_type() -> None:
    """A server-side call knows the browser cookie but not what device it lives on."""
    event = only_event(run(browse(context={})))
    assert event["device"] == {"id": "a-5c2e9d"}


def test_call_without_any_id_is_rejected_as_no_identity() -> None:
    """Segment requires a userId or an anonymousId; without either nobody can be stitched."""
    result = run(browse(anonymousId=None))
    assert reasons(result.rejected) == ["no_identity"]
    assert result.rejected[0].field == "userId"
    assert result.rejected[0].item_id == "ajs-next-7f3c1e"


def test_numeric_user_id_is_read_as_text() -> None:
    """A userId sent as a number is the same account as the string."""
    event = only_event(run(browse(userId=731)))
    assert event["identifiers"][0] == {"type": "customer_id", "value": "731", "verified": True}


def test_user_id_of_the_wrong_type_is_rejected_naming_it() -> None:
    """A userId that is an object is a client bug, reported with the field name."""
    result = run(browse(userId={"id": 7}))
    assert reasons(result.rejected) == ["invalid_field"]
    assert "userId" in result.rejected[0].message


# --- touchpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "touchpoint", "outcome"),
    [
        ("Products Searched", "discover", None),
        ("Product List Viewed", "compare", None),
        ("Product List Filtered", "compare", None),
        ("Product Viewed", "inform", None),
        ("Product Added", "purchase", "started"),
        ("Cart Viewed", "purchase", "started"),
        ("Checkout Started", "purchase", "started"),
        ("Checkout Step Viewed", "purchase", "started"),
        ("Payment Info Entered", "pay", "started"),
        ("Order Completed", "purchase", "completed"),
        ("Order Cancelled", "purchase", "abandoned"),
        ("Order Refunded", "return", "completed"),
        ("Order Returned", "return", "started"),
        ("Product Reviewed", "feedback", None),
    ],
)
def test_ecommerce_events_map_to_the_journey_touchpoints(
    name: str, touchpoint: str, outcome: str | None
) -> None:
    """Each e-commerce spec event lands on its touchpoint of the purchase journey."""
    event = only_event(run(browse(event=name)))
    assert (event["touchpoint"], event.get("outcome")) == (touchpoint, outcome)


def test_event_names_match_regardless_of_case_and_separators() -> None:
    """`order_completed` and `ORDER-COMPLETED` are the Order Completed of the spec."""
    for name in ("order_completed", "ORDER-COMPLETED", " Order  Completed "):
        assert only_event(run(browse(event=name)))["touchpoint"] == "purchase"


def test_order_completed_carries_the_order_checkout_and_first_product() -> None:
    """The completed order brings its order id (owned), checkout id and first product as refs."""
    call = browse(event="Order Completed", properties={
        "order_id": "SO-2026-00412", "checkout_id": "chk_91", "total": 249,
        "products": [{"product_id": "espresso-ek-42", "quantity": 1},
                     {"product_id": "descaler-500", "quantity": 2}],
    })
    event = only_event(run(call))
    assert event["refs"] == {"order_id": "SO-2026-00412", "checkout_id": "chk_91",
                             "product_id": "espresso-ek-42"}
    assert event["outcome"] == "completed"


def test_legacy_action_and_camel_case_order_id_are_understood() -> None:
    """A v1 call with `action` instead of `type`, `orderId` and `products[].id` still converts."""
    call = browse(event="Completed Order", properties={
        "orderId": "SO-2026-00413", "products": [{"id": "grinder-g7", "price": 99}]})
    call["action"] = "Track"
    del call["type"]
    event = only_event(run(call))
    assert event["touchpoint"] == "purchase"
    assert event["refs"] == {"order_id": "SO-2026-00413", "product_id": "grinder-g7"}


def test_cart_events_carry_the_cart_id() -> None:
    """Adding to the cart starts the purchase and names the cart it belongs to."""
    call = browse(event="Product Added", properties={"cart_id": "cart-77",
                                                     "product_id": "espresso-ek-42"})
    assert only_event(run(call))["refs"] == {"cart_id": "cart-77", "product_id": "espresso-ek-42"}


def test_unmapped_track_event_is_skipped_with_its_name() -> None:
    """A custom analytics event that is no touchpoint is counted as skipped, not dead-lettered."""
    result = run(browse(event="Video Played"))
    assert result.events == []
    assert result.rejected == []
    assert reasons(result.skipped) == ["unmapped_event"]
    assert "'Video Played'" in result.skipped[0].message


def test_a_catch_all_touchpoint_can_replace_skipping() -> None:
    """With `unmapped` set, every custom event becomes that touchpoint."""
    adapter = segment_adapter(config=SegmentConfig(unmapped=Touch("inform")))
    event = only_event(adapter(orjson.dumps(browse(event="Video Played")), {}, RECEIVED))
    assert event["touchpoint"] == "inform"


def test_the_event_mapping_is_configurable() -> None:
    """A shop can map its own events and remap the spec ones."""
    config = SegmentConfig(events={"Store Locator Opened": Touch("inform"),
                                   "Product Viewed": Touch("compare")})
    adapter = segment_adapter(config=config)
    own = adapter(orjson.dumps(browse(event="store_locator_opened")), {}, RECEIVED)
    spec = adapter(orjson.dumps(browse()), {}, RECEIVED)
    gone = adapter(orjson.dumps(browse(event="Order Completed")), {}, RECEIVED)
    assert only_event(own)["touchpoint"] == "inform"
    assert only_event(spec)["touchpoint"] == "compare"
    assert reasons(gone.skipped) == ["unmapped_event"]


def test_page_calls_inform_and_can_be_switched_off() -> None:
    """A page view informs by default; a site can decide page views are noise."""
    page = {"type": "page", "name": "Espresso machines", "anonymousId": "a-5c2e9d",
            "messageId": "ajs-p-1", "timestamp": "2026-03-01T18:00:00Z",
            "properties": {"url": "https://shop.example.it/c/espresso"}}
    event = only_event(run(page))
    assert (event["channel"], event["touchpoint"]) == ("web", "inform")
    assert event["attributes"]["url"] == "https://shop.example.it/c/espresso"
    quiet = segment_adapter(config=SegmentConfig(page=None))(orjson.dumps(page), {}, RECEIVED)
    assert reasons(quiet.skipped) == ["unmapped_event"]


@pytest.mark.parametrize("kind", ["group", "alias"])
def test_group_and_alias_calls_are_skipped(kind: str) -> None:
    """Group and alias calls describe accounts, not a customer's touchpoint."""
    result = run({"type": kind, "userId": "CRM-000731", "groupId": "acme",
                  "previousId": "a-5c2e9d"})
    assert reasons(result.skipped) == ["unsupported_call"]


def test_unknown_call_type_is_rejected() -> None:
    """A `type` Segment does not define is a broken call."""
    result = run(browse(type="purchase"))
    assert reasons(result.rejected) == ["invalid_field"]
    assert result.rejected[0].field == "type"


def test_track_call_without_event_name_is_rejected() -> None:
    """A track call must say which event it tracks."""
    result = run(browse(event=None))
    assert reasons(result.rejected) == ["missing_field"]
    assert result.rejected[0].field == "event"


def test_properties_that_are_not_an_object_are_rejected() -> None:
    """Properties sent as a list are a client bug named in the rejection."""
    result = run(browse(properties=["espresso-ek-42"]))
    assert reasons(result.rejected) == ["invalid_field"]
    assert result.rejected[0].field == "properties"


# --- HTTP API endpoints and batches --------------------------------------------------------------


def test_http_api_bodies_take_their_type_from_the_endpoint() -> None:
    """The same typeless body posted to /page and to /screen is a web page and an app screen."""
    body = {"userId": "CRM-000731", "name": "Home", "timestamp": "2026-03-01T18:00:00Z",
            "writeKey": "wk-secret"}
    page = only_event(run(body, "segment.page"))
    screen = only_event(run(body, "segment.screen"))
    assert (page["channel"], screen["channel"]) == ("web", "app")
    assert page["event_id"] != screen["event_id"]
    assert "wk-secret" not in orjson.dumps(page).decode()


def test_typeless_body_on_the_generic_endpoint_is_rejected() -> None:
    """Without a type and without an endpoint that implies one, the call is ambiguous."""
    result = run({"userId": "CRM-000731", "name": "Home"})
    assert reasons(result.rejected) == ["missing_field"]
    assert result.rejected[0].field == "type"


def test_a_type_contradicting_the_endpoint_is_rejected() -> None:
    """An identify posted to the track endpoint is refused rather than guessed."""
    result = run(login(), "segment.track")
    assert reasons(result.rejected) == ["invalid_field"]
    assert "contradicts" in result.rejected[0].message


def test_batch_context_merges_into_every_item() -> None:
    """The batch-level context applies to each call; an item's own context values win."""
    envelope = {
        "batch": [
            login(context={"device": {"id": "D-77"}}),
            browse(context={"userAgent": CHROME_MAC}),
        ],
        "context": {"device": {"type": "android", "id": "D-00"}, "app": {"name": "Shop"}},
        "writeKey": "wk-secret",
    }
    result = run(envelope, "segment.batch")
    assert result.rejected == []
    assert len(result.events) == 2
    first, second = result.events
    assert first["channel"] == second["channel"] == "app"
    assert first["device"] == {"id": "D-77", "type": "smartphone"}
    assert second["device"] == {"id": "D-00", "type": "smartphone"}


def test_the_batch_endpoint_needs_a_batch() -> None:
    """A single call posted to /v1/batch is refused with the missing field named."""
    result = run(browse(), "segment.batch")
    assert reasons(result.rejected) == ["missing_field"]
    assert result.rejected[0].field == "batch"


def test_one_broken_call_does_not_sink_the_batch() -> None:
    """Every call of a batch gets its own verdict, in order."""
    envelope = {"batch": [browse(), browse(anonymousId=None, messageId="m-2"), "oops",
                          browse(event="Video Played", messageId="m-4"), login()]}
    result = run(envelope)
    assert [e["event_id"] for e in result.events] == ["segment:ajs-next-7f3c1e",
                                                      "segment:ajs-next-81aa02"]
    assert [(r.index, r.reason) for r in result.rejected] == [(1, "no_identity"),
                                                             (2, "invalid_payload")]
    assert [(s.index, s.reason) for s in result.skipped] == [(3, "unmapped_event")]


def test_a_call_repeated_in_a_batch_is_emitted_once() -> None:
    """A library that retries inside one batch does not double the touchpoint."""
    result = run([browse(), browse()])
    assert len(result.events) == 1
    assert reasons(result.skipped) == ["duplicate_item"]


def test_a_reused_message_id_with_other_content_is_rejected() -> None:
    """Two different calls under one messageId would lose one of them downstream: refused."""
    result = run([browse(), login(messageId="ajs-next-7f3c1e")])
    assert len(result.events) == 1
    assert reasons(result.rejected) == ["duplicate_event_id"]


def test_json_lines_give_one_verdict_per_line() -> None:
    """An export of one call per line converts line by line, a garbled line rejected alone."""
    body = b"\n".join([orjson.dumps(browse()), b"{not json", orjson.dumps(login())])
    result = ADAPTERS["segment"](body, {}, RECEIVED)
    assert len(result.events) == 2
    assert reasons(result.rejected) == ["invalid_json"]
    assert "line 2" in result.rejected[0].message


def test_a_body_that_is_not_json_is_rejected_as_a_whole() -> None:
    """Garbage is one rejection for the whole body, with no index."""
    result = ADAPTERS["segment"](b"<html>", {}, RECEIVED)
    assert reasons(result.rejected) == ["invalid_json"]
    assert result.rejected[0].index is None


# --- time and ids --------------------------------------------------------------------------------


def test_a_malformed_timestamp_falls_back_on_the_original_one() -> None:
    """A timestamp like 2026-3-01 gives way to originalTimestamp, and the event says so."""
    call = browse(timestamp="2026-3-01T18:04:12.517Z",
                  originalTimestamp="2026-03-01T18:04:11.000Z")
    event = only_event(run(call))
    assert event["occurred_at"] == "2026-03-01T18:04:11Z"
    assert event["attributes"]["time_source"] == "originalTimestamp"


def test_a_malformed_timestamp_with_nothing_to_fall_back_on_is_rejected() -> None:
    """A broken client clock with no other time is rejected naming the field and the value."""
    result = run(browse(timestamp="2026-3-01T18:04:12.517Z", sentAt=None))
    assert reasons(result.rejected) == ["invalid_timestamp"]
    rejection = result.rejected[0]
    assert rejection.field == "timestamp"
    assert "'2026-3-01T18:04:12.517Z'" in rejection.message
    assert "originalTimestamp" in rejection.message


def test_the_batch_sent_at_stands_in_for_a_broken_item_time() -> None:
    """The sentAt of a /v1/batch envelope applies to items that lack their own."""
    envelope = {"batch": [browse(timestamp="yesterday", sentAt=None)],
                "sentAt": "2026-03-01T18:05:00Z"}
    event = only_event(run(envelope, "segment.batch"))
    assert event["occurred_at"] == "2026-03-01T18:05:00Z"


def test_a_call_without_any_time_happened_when_it_was_received() -> None:
    """Like Segment, a call that carries no time at all is dated by its receipt."""
    event = only_event(run(browse(timestamp=None, sentAt=None)))
    assert event["occurred_at"] == "2026-03-02T09:15:00Z"
    assert event["attributes"]["time_source"] == "received_at"


def test_a_call_without_message_id_gets_a_stable_id_from_its_content() -> None:
    """The same call posted twice gets the same id; another call another one."""
    first = only_event(run(browse(messageId=None)))
    again = only_event(run(browse(messageId=None)))
    other = only_event(run(browse(messageId=None, event="Product Clicked")))
    assert first["event_id"] == again["event_id"]
    assert first["event_id"].startswith("segment:h:")
    assert other["event_id"] != first["event_id"]


def test_a_very_long_message_id_is_hashed_into_the_id_limit() -> None:
    """Event ids stay within 128 characters however long the vendor's id is."""
    event = only_event(run(browse(messageId="m" * 300)))
    assert len(event["event_id"]) <= 128
    assert event["event_id"].startswith("segment:")


# --- the pure function ---------------------------------------------------------------------------


def test_segment_event_raises_the_precise_error() -> None:
    """The single-call function raises AdapterError with reason, message and field."""
    with pytest.raises(AdapterError) as caught:
        segment_event(browse(anonymousId=None), received_at=RECEIVED)
    assert (caught.value.reason, caught.value.field) == ("no_identity", "userId")


def test_segment_event_raises_skip_for_an_unmapped_event() -> None:
    """The single-call function signals a deliberate skip apart from an error."""
    with pytest.raises(Skip) as caught:
        segment_event(browse(event="Video Played"), received_at=RECEIVED)
    assert caught.value.reason == "unmapped_event"


def test_every_default_touchpoint_is_accepted_by_the_core_on_web_and_app() -> None:
    """No default mapping produces an event the core would dead-letter."""
    for name in SegmentConfig().events:
        for call in (browse(event=name), browse(event=name, channel="mobile")):
            accepted(segment_event(call, received_at=RECEIVED))
