"""Orders through Shopify: online and in-store orders, payments, deliveries and pickups."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from journey_stitcher.adapters import ADAPTERS, ShopifyConfig
from journey_stitcher.adapters.shopify import shopify_adapter
from tests.unit.adapters.conftest import RECEIVED, only_event, reasons

ORDER_ID = 5917349085231


def web_order(**overrides: Any) -> dict[str, Any]:
    """Giulia's online order of the espresso machine, as Shopify's order webhook sends it."""
    order: dict[str, Any] = {
        "id": ORDER_ID,
        "admin_graphql_api_id": f"gid://shopify/Order/{ORDER_ID}",
        "name": "#1412",
        "order_number": 1412,
        "email": "Giulia.Rossi@example.it",
        "contact_email": "Giulia.Rossi@example.it",
        "phone": None,
        "created_at": "2026-03-01T19:02:44+01:00",
        "processed_at": "2026-03-01T19:02:41+01:00",
        "updated_at": "2026-03-01T19:02:47+01:00",
        "cancelled_at": None,
        "source_name": "web",
        "cart_token": "Z2NwLWV1cm9wZS13ZXN0NDowMUhRUjNH",
        "checkout_token": "9f3a1c2b7d4e5f60",
        "financial_status": "paid",
        "fulfillment_status": None,
        "currency": "EUR",
        "total_price": "249.00",
        "test": False,
        "location_id": None,
        "customer": {
            "id": 7712093487151,
            "email": "giulia.rossi@example.it",
            "phone": "+393471234567",
            "verified_email": True,
            "state": "enabled",
            "first_name": "Giulia",
        },
        "billing_address": {"name": "Giulia Rossi", "phone": "347 123 4567", "city": "Milano"},
        "shipping_address": {"name": "Marco Bianchi", "phone": "+393339876543", "city": "Torino"},
        "line_items": [
            {"id": 1, "product_id": None, "title": "Gift wrap", "quantity": 1},
            {"id": 2, "product_id": 8855001122334, "variant_id": 4455, "title": "Espresso EK 42",
             "quantity": 1},
        ],
        "shipping_lines": [{"code": "Standard", "title": "Spedizione standard",
                            "source": "shopify", "price": "0.00"}],
        "fulfillments": [],
    }
    order.update(overrides)
    return order


def store_order(**overrides: Any) -> dict[str, Any]:
    """A cash sale at the Milano store's point of sale, no customer on file."""
    order = web_order(
        id=5917349099999, name="#1413", order_number=1413, email=None, contact_email=None,
        source_name="pos", customer=None, billing_address=None, shipping_address=None,
        cart_token=None, checkout_token=None, shipping_lines=[], location_id=61220000,
        fulfillment_status="fulfilled",
    )
    order.update(overrides)
    return order


def shipped(status: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The web order handed to the courier (and, with status delivered, delivered)."""
    fulfillment = {
        "id": 4900112233, "status": "success", "shipment_status": status,
        "tracking_company": "BRT", "tracking_number": "BRT0012345678",
        "created_at": "2026-03-02T10:30:00+01:00", "updated_at": "2026-03-04T15:12:09+01:00",
    }
    return web_order(fulfillment_status="fulfilled", fulfillments=[fulfillment], **overrides)


def run(order: dict[str, Any], topic: str, config: ShopifyConfig | None = None) -> Any:
    adapter = shopify_adapter(config) if config else ADAPTERS["shopify"]
    return adapter(orjson.dumps(order), {"X-Shopify-Topic": topic}, RECEIVED)


def test_an_online_order_completes_the_purchase_of_the_known_customer() -> None:
    """orders/create of a web order is a completed purchase on the web, with the order as ref."""
    event = only_event(run(web_order(), "orders/create"))
    assert event == {
        "event_id": f"shopify:{ORDER_ID}:orders/create",
        "occurred_at": "2026-03-01T18:02:41Z",
        "channel": "web",
        "touchpoint": "purchase",
        "identifiers": [
            {"type": "customer_id", "value": "shopify:7712093487151", "verified": True},
            {"type": "email", "value": "Giulia.Rossi@example.it", "verified": True},
            {"type": "phone", "value": "+393471234567", "verified": False},
            {"type": "phone", "value": "347 123 4567", "verified": False},
        ],
        "refs": {"order_id": str(ORDER_ID), "cart_id": "Z2NwLWV1cm9wZS13ZXN0NDowMUhRUjNH",
                 "product_id": "8855001122334"},
        "outcome": "completed",
        "source": "shopify",
        "attributes": {"shopify_topic": "orders/create", "source_name": "web",
                       "order_number": 1412, "name": "#1412", "financial_status": "paid",
                       "total_price": "249.00", "currency": "EUR"},
    }


def test_the_shipping_recipients_phone_is_not_the_buyers() -> None:
    """A gift shipped to Marco does not give Marco's phone to Giulia's profile."""
    event = only_event(run(web_order(), "orders/create"))
    assert "+393339876543" not in orjson.dumps(event).decode()


def test_the_payment_is_a_completed_pay_touchpoint_dated_by_the_update() -> None:
    """orders/paid records the payment when Shopify marked the order paid."""
    event = only_event(run(web_order(), "orders/paid"))
    assert (event["touchpoint"], event["outcome"]) == ("pay", "completed")
    assert event["occurred_at"] == "2026-03-01T18:02:47Z"
    assert event["event_id"] == f"shopify:{ORDER_ID}:orders/paid"


def test_a_retried_webhook_has_the_same_event_id() -> None:
    """Shopify retries a webhook it thinks failed; the event id does not change."""
    first = only_event(run(web_order(), "orders/create"))
    retried = only_event(run(web_order(updated_at="2026-03-01T19:07:00+01:00"),
                             "ORDERS/CREATE"))
    assert first["event_id"] == retried["event_id"]


def test_an_unverified_email_stays_unverified() -> None:
    """A guest checkout's e-mail was typed in: it can find a profile but not merge two."""
    customer = {"id": 7712093487151, "email": "giulia.rossi@example.it", "verified_email": False}
    event = only_event(run(web_order(customer=customer), "orders/create"))
    assert [i["verified"] for i in event["identifiers"] if i["type"] == "email"] == [False]


def test_a_different_checkout_email_is_not_vouched_for_by_the_account() -> None:
    """Only the address the customer verified on the account is verified, not another one typed."""
    event = only_event(run(web_order(email="g.rossi@work.example", contact_email=None),
                           "orders/create"))
    emails = [(i["value"], i["verified"]) for i in event["identifiers"] if i["type"] == "email"]
    assert emails == [("g.rossi@work.example", False), ("giulia.rossi@example.it", True)]


def test_an_anonymous_store_sale_is_known_by_its_order() -> None:
    """A cash sale without a customer is a store purchase that only its order id identifies."""
    event = only_event(run(store_order(), "orders/create"))
    assert (event["channel"], event["touchpoint"]) == ("store", "purchase")
    assert event["identifiers"] == []
    assert event["refs"]["order_id"] == "5917349099999"
    assert event["attributes"]["location_id"] == 61220000


@pytest.mark.parametrize(
    ("source_name", "channel"),
    [("web", "web"), ("pos", "store"), ("iphone", "app"), ("android", "app"),
     ("shopify_draft_order", "web"), ("buy_button", "web"), ("1520611", "web")],
)
def test_the_order_source_tells_the_channel(source_name: str, channel: str) -> None:
    """Web, point of sale, mobile apps and draft orders land on their channels."""
    event = only_event(run(web_order(source_name=source_name), "orders/create"))
    assert event["channel"] == channel


def test_the_channel_map_is_configurable() -> None:
    """A shop selling through a kiosk app can route that source to the kiosk channel."""
    config = ShopifyConfig(source_channels={"1520611": "kiosk"}, default_channel="web")
    event = only_event(run(web_order(source_name="1520611"), "orders/create", config))
    assert event["channel"] == "kiosk"


def test_the_customer_id_prefix_is_configurable() -> None:
    """When Shopify ids are the CRM ids, the prefix goes; with None the id is left out."""
    bare = only_event(run(web_order(), "orders/create", ShopifyConfig(customer_id_prefix="")))
    assert bare["identifiers"][0]["value"] == "7712093487151"
    none = only_event(run(web_order(), "orders/create", ShopifyConfig(customer_id_prefix=None)))
    assert all(i["type"] != "customer_id" for i in none["identifiers"])


def test_the_order_ref_can_be_the_order_number_couriers_scan() -> None:
    """A shop whose couriers scan #1412 can key orders by order number."""
    config = ShopifyConfig(order_ref="order_number")
    assert only_event(run(web_order(), "orders/create", config))["refs"]["order_id"] == "1412"


def test_a_shipped_order_starts_the_delivery_by_courier() -> None:
    """orders/fulfilled of a shipped order is a delivery started by the courier."""
    event = only_event(run(shipped(), "orders/fulfilled"))
    assert (event["channel"], event["touchpoint"], event["outcome"]) == (
        "courier", "delivery", "started")
    assert event["occurred_at"] == "2026-03-02T09:30:00Z"
    assert event["attributes"]["tracking_number"] == "BRT0012345678"
    assert event["refs"]["order_id"] == str(ORDER_ID)


def test_a_delivered_shipment_completes_the_delivery() -> None:
    """A fulfillment whose shipment status is delivered is a completed delivery."""
    event = only_event(run(shipped("delivered"), "orders/fulfilled"))
    assert event["outcome"] == "completed"
    assert event["occurred_at"] == "2026-03-04T14:12:09Z"


@pytest.mark.parametrize("title", ["Pickup in store", "Ritiro in negozio - Milano Duomo"])
def test_a_pickup_order_is_collected_in_store(title: str) -> None:
    """A fulfilled order whose delivery method is a pickup was collected at the store."""
    order = shipped(shipping_lines=[{"code": title, "title": title, "source": "shopify"}])
    event = only_event(run(order, "orders/fulfilled"))
    assert (event["channel"], event["touchpoint"], event["outcome"]) == (
        "store", "pickup", "completed")


def test_a_store_sale_fulfilled_at_the_counter_is_not_a_second_touchpoint() -> None:
    """The goods a POS customer takes home were handed over with the purchase itself."""
    result = run(store_order(), "orders/fulfilled")
    assert result.events == []
    assert result.rejected == []
    assert reasons(result.skipped) == ["not_a_touchpoint"]


def test_a_missing_topic_header_is_rejected() -> None:
    """Without X-Shopify-Topic nobody can tell creation from payment."""
    result = ADAPTERS["shopify"](orjson.dumps(web_order()), {}, RECEIVED)
    assert reasons(result.rejected) == ["missing_header"]
    assert result.rejected[0].field == "X-Shopify-Topic"


def test_the_topic_header_is_found_whatever_its_case() -> None:
    """HTTP header names are case-insensitive."""
    result = ADAPTERS["shopify"](orjson.dumps(web_order()), {"x-shopify-topic": "orders/paid"},
                                 RECEIVED)
    assert only_event(result)["touchpoint"] == "pay"


def test_an_unmapped_topic_is_skipped() -> None:
    """A subscription to orders/updated is acknowledged and counted, not dead-lettered."""
    assert reasons(run(web_order(), "orders/updated").skipped) == ["unsupported_topic"]


def test_an_order_without_id_is_rejected() -> None:
    """An order without its id cannot be referenced by anything that follows."""
    result = run(web_order(id=None), "orders/create")
    assert reasons(result.rejected) == ["missing_field"]
    assert result.rejected[0].field == "id"


def test_an_order_without_any_usable_time_is_rejected() -> None:
    """Times without an offset are ambiguous; with no other time the order is rejected."""
    result = run(web_order(processed_at="2026-03-01 19:02:41", created_at="2026-03-01",
                           updated_at=None), "orders/create")
    assert reasons(result.rejected) == ["invalid_timestamp"]
    assert result.rejected[0].field == "processed_at"
    assert "offset" in result.rejected[0].message


@pytest.mark.parametrize("processed_at", [None, "2026-03-01 19:02:41"])
def test_the_creation_time_stands_in_for_a_missing_processing_time(
    processed_at: str | None,
) -> None:
    """An order without a usable processed_at is dated by created_at."""
    event = only_event(run(web_order(processed_at=processed_at), "orders/create"))
    assert event["occurred_at"] == "2026-03-01T18:02:44Z"


def test_a_body_that_is_not_an_order_is_rejected() -> None:
    """A JSON string posted as an order is refused with its type."""
    result = run("order", "orders/create")  # type: ignore[arg-type]
    assert reasons(result.rejected) == ["invalid_payload"]
