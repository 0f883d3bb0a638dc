"""End to end: signed vendor webhooks through the gateway, the broker, the worker and Redis.

Giulia identifies herself in the shop's app and looks at the espresso machine there, calls the
sales line about it, then orders it on the web site: one customer, one journey, two handoffs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from journey_stitcher.adapters import TwilioConfig, build_adapters
from journey_stitcher.adapters.signatures import segment_signature, shopify_hmac, twilio_signature
from journey_stitcher.config import load_config
from journey_stitcher.gateway.app import create_gateway
from journey_stitcher.gateway.main import build_producer
from journey_stitcher.kafka import ensure_topics
from journey_stitcher.settings import Settings
from tests.integration.harness import OUTPUT_TOPICS, PEPPER, Deployment, Record, Worker, read_topics

pytestmark = pytest.mark.integration

DEADLINE_S = 25.0
INGEST_SECRET = "e2e-ingest-secret"
TWILIO_TOKEN = "e2e0ffee0123456789abcdef01234567"
SHOPIFY_SECRET = "shpss_e2e_7d3f0c1a9b8e4d2f"
PUBLIC_URL = "https://ingest.shop.example.it"
SALES_LINE = "+390212345600"

USER_ID = "CRM-000731"
EMAIL = "giulia.rossi@example.it"
PHONE = "+393471234567"
DEVICE = "9C1F3A52-6E0B-4D7A-A1E4-2B7C5D3E8F10"
PRODUCT = "8855001122334"
CALL_SID = "CA5f0e2d8a1b9c4d7e6f5a4b3c2d1e0f9a"
ORDER_ID = 5917349085231

SCREEN_ID = "segment:ios-screen-2f9e"
CALL_ID = f"twilio:{CALL_SID}:completed"
ORDER_EVENT_ID = f"shopify:{ORDER_ID}:orders/create"

Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True)
class Post:
    """One signed webhook as the vendor sends it."""

    path: str
    body: bytes
    headers: dict[str, str]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def app_context() -> dict[str, Any]:
    """What Segment's iOS library attaches to every call of the shop's app."""
    return {
        "app": {"name": "Shop", "version": "4.2.0", "build": "420"},
        "device": {"id": DEVICE, "type": "ios", "model": "iPhone15,2", "manufacturer": "Apple"},
        "os": {"name": "iOS", "version": "17.3"},
        "library": {"name": "analytics-swift", "version": "1.5.4"},
    }


def segment(call: dict[str, Any]) -> Post:
    """A Segment call, signed by the Webhooks destination with the shared secret."""
    body = orjson.dumps(call)
    return Post("/v1/ingest/segment", body, {"X-Signature": segment_signature(INGEST_SECRET, body),
                                             "Content-Type": "application/json"})


def identify(at: datetime) -> Post:
    """Giulia logs in to the app: her account's e-mail and phone."""
    return segment({
        "type": "identify", "messageId": "ios-identify-81aa", "userId": USER_ID,
        "anonymousId": "ios-anon-5c2e", "timestamp": iso(at), "context": app_context(),
        "traits": {"email": "Giulia.Rossi@Example.it", "phone": "+39 347 123 4567"},
    })


def product_screen(at: datetime) -> Post:
    """She opens the espresso machine's product screen in the app."""
    return segment({
        "type": "screen", "name": "Product Detail", "messageId": "ios-screen-2f9e",
        "userId": USER_ID, "anonymousId": "ios-anon-5c2e", "timestamp": iso(at),
        "context": app_context(),
        "properties": {"product_id": PRODUCT, "name": "Espresso EK 42", "price": 249},
    })


def sales_call(at: datetime) -> Post:
    """Twilio's status callback: her three-minute call to the sales line has ended."""
    params = {
        "AccountSid": "AC0000000000000000000000000000abcd", "CallSid": CALL_SID,
        "CallStatus": "completed", "Direction": "inbound", "From": PHONE, "To": SALES_LINE,
        "Timestamp": format_datetime(at), "CallDuration": "184", "ApiVersion": "2010-04-01",
    }
    path = "/v1/ingest/twilio"
    signature = twilio_signature(TWILIO_TOKEN, PUBLIC_URL + path, params)
    return Post(path, urlencode(params).encode(), {
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded",
    })


def web_order(at: datetime) -> Post:
    """Shopify's orders/create webhook: she orders the machine on the web site."""
    # The shop's customer id (`shopify:<id>`) cannot become a second customer id of her
    # profile (identity.conflict, limit_exceeded); her verified e-mail finds the profile.
    rome = at.astimezone(timezone(timedelta(hours=1)))
    order = {
        "id": ORDER_ID, "name": "#1412", "order_number": 1412, "email": EMAIL,
        "created_at": rome.isoformat(timespec="seconds"),
        "processed_at": rome.isoformat(timespec="seconds"),
        "updated_at": rome.isoformat(timespec="seconds"),
        "source_name": "web", "cart_token": "Z2NwLWV1cm9wZS13ZXN0NDowMUhRUjNH",
        "financial_status": "paid", "currency": "EUR", "total_price": "249.00",
        "customer": {"id": 7712093487151, "email": EMAIL, "verified_email": True},
        "line_items": [{"id": 2, "product_id": int(PRODUCT), "title": "Espresso EK 42",
                        "quantity": 1}],
        "shipping_lines": [{"code": "Standard", "title": "Spedizione standard"}],
        "fulfillments": [],
    }
    body = orjson.dumps(order)
    return Post("/v1/ingest/shopify", body, {
        "X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": shopify_hmac(SHOPIFY_SECRET, body),
        "Content-Type": "application/json",
    })


def gateway_settings(deployment: Deployment) -> Settings:
    """The gateway of this deployment, with every vendor secret set and no unsigned mode."""
    return Settings().model_copy(update={
        "environment": "development",
        "pepper": SecretStr(PEPPER),
        "kafka_bootstrap_servers": deployment.bootstrap,
        "partitions": deployment.partitions,
        "topic_interactions": deployment.topic("interactions"),
        "topic_dlq": deployment.topic("dlq"),
        "gateway_public_url": PUBLIC_URL,
        "gateway_allow_unsigned": False,
        "gateway_send_timeout_seconds": 10.0,
        "twilio_auth_token": SecretStr(TWILIO_TOKEN),
        "shopify_secret": SecretStr(SHOPIFY_SECRET),
        "ingest_secret": SecretStr(INGEST_SECRET),
        "sendgrid_public_key": None,
    })


@asynccontextmanager
async def gateway(deployment: Deployment) -> AsyncIterator[Client]:
    """The real gateway on a free local port, publishing to the deployment's interactions.

    Twilio calls map to a touchpoint by the company line called: the sales line is `inform`
    (a purchase-family touchpoint), so a call there continues the customer's purchase journey.
    """
    settings = gateway_settings(deployment)
    adapters = build_adapters(twilio=TwilioConfig(lines={SALES_LINE: "inform"}))
    app = create_gateway(settings, build_producer(settings, load_config(None)), adapters=adapters)
    async with TestClient(TestServer(app)) as client:
        yield client


def survivors(records: list[Record]) -> dict[str, str]:
    """Merged customer id → the customer it was merged into."""
    return {r.event["data"]["merged_id"]: r.event["data"]["survivor_id"]
            for r in records if r.event["type"] == "identity.merged"}


def final_customer(customer: str, merged_into: dict[str, str]) -> str:
    while customer in merged_into:
        customer = merged_into[customer]
    return customer


async def test_app_screen_sales_call_and_web_order_make_one_journey_with_two_handoffs(
    deployment: Deployment, tmp_path: Path
) -> None:
    """An app screen, a call to the sales line and a web order by the same person, posted as
    signed webhooks, become one customer's one journey with handoffs app→voice then voice→web."""
    await ensure_topics(deployment.bootstrap,
                        [deployment.topic(t) for t in ("interactions", *OUTPUT_TOPICS)],
                        deployment.partitions)
    log = tmp_path / "worker.log"
    worker = Worker(deployment, log)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        posts = [identify(now - timedelta(minutes=12)), product_screen(now - timedelta(minutes=10)),
                 sales_call(now - timedelta(minutes=6)), web_order(now - timedelta(minutes=2))]
        async with gateway(deployment) as client:
            for post in posts:
                response = await client.post(post.path, data=post.body, headers=post.headers)
                assert response.status == 202, (post.path, await response.text())
        topics = {deployment.topic(t): t for t in ("journeys", "handoffs", "identities")}
        records = await read_topics(deployment.bootstrap, list(topics), at_least=6,
                                    timeout=DEADLINE_S, settle=1.0)
    finally:
        assert worker.stop() == 0, log.read_text()[-3000:]

    journeys = [r.event for r in records if topics[r.topic] == "journeys"]
    handoffs = [r.event for r in records if topics[r.topic] == "handoffs"]
    merged_into = survivors([r for r in records if topics[r.topic] == "identities"])
    customers = {final_customer(e["subject"], merged_into) for e in journeys + handoffs}
    assert len(customers) == 1, customers

    assert [(e["type"], e["data"]["event_id"], e["data"]["channel"]) for e in journeys] == [
        ("journey.started", SCREEN_ID, "app"),
        ("journey.continued", CALL_ID, "voice"),
        ("journey.continued", ORDER_EVENT_ID, "web"),
        ("journey.completed", ORDER_EVENT_ID, "web"),
    ]
    assert len({e["data"]["journey_id"] for e in journeys + handoffs}) == 1

    assert [(h["type"], h["data"]["kind"], h["data"]["from"]["channel"], h["data"]["to"]["channel"],
             h["data"]["from"]["event_id"], h["data"]["to"]["event_id"]) for h in handoffs] == [
        ("journey.handoff", "channel_switch", "app", "voice", SCREEN_ID, CALL_ID),
        ("journey.handoff", "channel_switch", "voice", "web", CALL_ID, ORDER_EVENT_ID),
    ]
    assert [h["data"]["assisted_to"] for h in handoffs] == [True, False]
