"""The gateway under test: signed vendor posts, an in-memory producer, settings without secrets."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from journey_stitcher.adapters import Event
from journey_stitcher.adapters.signatures import segment_signature, shopify_hmac, twilio_signature
from journey_stitcher.gateway.app import create_gateway
from journey_stitcher.gateway.producer import KafkaUnavailable
from journey_stitcher.settings import Settings
from journey_stitcher.worker.records import OutgoingRecord

RECEIVED = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
"""When the gateway received the posts of these tests."""

SHOPIFY_SECRET = "shpss_7d3f0c1a9b8e4d2f6a5c"
TWILIO_TOKEN = "c0ffee0123456789abcdef0123456789"
INGEST_SECRET = "ingest-secret-for-the-courier-systems"
PUBLIC_URL = "https://ingest.shop.example.it"
SUPPORT_LINE = "+390212345699"

_SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC_KEY = base64.b64encode(_SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo,
)).decode()

Client = TestClient[web.Request, web.Application]


def gateway_settings(**overrides: Any) -> Settings:
    """Settings with every vendor secret configured, whatever the developer's environment says."""
    values: dict[str, Any] = {
        "environment": "development",
        "gateway_max_body_bytes": 1_048_576,
        "gateway_public_url": None,
        "gateway_allow_unsigned": False,
        "gateway_retry_after_seconds": 5,
        "twilio_auth_token": SecretStr(TWILIO_TOKEN),
        "sendgrid_public_key": SecretStr(SENDGRID_PUBLIC_KEY),
        "shopify_secret": SecretStr(SHOPIFY_SECRET),
        "ingest_secret": SecretStr(INGEST_SECRET),
        "topic_interactions": "interactions",
        "topic_dlq": "interactions.dlq",
    }
    values.update(overrides)
    return Settings().model_copy(update=values)


class MemoryProducer:
    """Keeps what the gateway sends; ``unavailable`` plays a Kafka outage."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.dead_letters: list[OutgoingRecord] = []
        self.unavailable = False
        self.started = False

    @property
    def nothing_sent(self) -> bool:
        return not self.events and not self.dead_letters

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def send_events(
        self, events: Sequence[Event], dead_letters: Sequence[OutgoingRecord] = ()
    ) -> None:
        if self.unavailable:
            raise KafkaUnavailable("2 of 2 records not acknowledged within 10 s")
        self.events.extend(events)
        self.dead_letters.extend(dead_letters)

    async def ping(self) -> None:
        if self.unavailable:
            raise KafkaUnavailable("cannot reach Kafka at 127.0.0.1:1")


@asynccontextmanager
async def gateway(
    settings: Settings | None = None, producer: MemoryProducer | None = None
) -> AsyncIterator[tuple[Client, MemoryProducer]]:
    """A running gateway on a free local port and a client for it."""
    producer = producer or MemoryProducer()
    app = create_gateway(settings or gateway_settings(), producer, clock=lambda: RECEIVED)
    async with TestClient(TestServer(app)) as client:
        yield client, producer


def headers_of(record: OutgoingRecord) -> dict[str, str]:
    """A record's headers as text."""
    return {name: value.decode() for name, value in record.headers or []}


# --- vendor posts ------------------------------------------------------------------------------


def web_order(**overrides: Any) -> dict[str, Any]:
    """Giulia's online order of the espresso machine, as Shopify's order webhook sends it."""
    order: dict[str, Any] = {
        "id": 5917349085231,
        "name": "#1412",
        "order_number": 1412,
        "email": "giulia.rossi@example.it",
        "created_at": "2026-03-01T19:02:44+01:00",
        "processed_at": "2026-03-01T19:02:41+01:00",
        "updated_at": "2026-03-01T19:02:47+01:00",
        "source_name": "web",
        "cart_token": "Z2NwLWV1cm9wZS13ZXN0NDowMUhRUjNH",
        "financial_status": "paid",
        "currency": "EUR",
        "total_price": "249.00",
        "customer": {"id": 7712093487151, "email": "giulia.rossi@example.it",
                     "verified_email": True},
        "line_items": [{"id": 2, "product_id": 8855001122334, "title": "Espresso EK 42",
                        "quantity": 1}],
        "shipping_lines": [{"code": "Standard", "title": "Spedizione standard"}],
        "fulfillments": [],
    }
    order.update(overrides)
    return order


def shopify_post(order: dict[str, Any] | None = None,
                 secret: str = SHOPIFY_SECRET) -> tuple[bytes, dict[str, str]]:
    """An orders/create webhook, signed with the shop's secret."""
    body = orjson.dumps(order or web_order())
    return body, {"X-Shopify-Topic": "orders/create",
                  "X-Shopify-Hmac-Sha256": shopify_hmac(secret, body),
                  "Content-Type": "application/json"}


def browse(message_id: str = "ajs-next-7f3c1e", **overrides: Any) -> dict[str, Any]:
    """Giulia, not logged in, looks at the coffee machine on the shop's web site."""
    call: dict[str, Any] = {
        "type": "track", "event": "Product Viewed", "messageId": message_id,
        "anonymousId": "a-5c2e9d", "timestamp": "2026-03-01T18:04:12.517+01:00",
        "properties": {"product_id": "espresso-ek-42", "price": 249},
        "context": {"page": {"url": "https://shop.example.it/p/espresso-ek-42"}},
    }
    call.update(overrides)
    return call


def login(**overrides: Any) -> dict[str, Any]:
    """Giulia logs in: the site identifies her account on the same browser."""
    call: dict[str, Any] = {
        "type": "identify", "messageId": "ajs-next-81aa02", "userId": "CRM-000731",
        "anonymousId": "a-5c2e9d", "timestamp": "2026-03-01T18:09:40Z",
        "traits": {"email": "giulia.rossi@example.it"},
    }
    call.update(overrides)
    return call


def segment_post(calls: list[dict[str, Any]],
                 secret: str = INGEST_SECRET) -> tuple[bytes, dict[str, str]]:
    """A Segment batch, signed the way Segment's Webhooks destination signs it."""
    body = orjson.dumps({"batch": calls})
    return body, {"X-Signature": segment_signature(secret, body),
                  "Content-Type": "application/json"}


def call_status(**overrides: str) -> dict[str, str]:
    """Giulia's call to the support line has just ended after three minutes."""
    params = {
        "AccountSid": "AC0000000000000000000000000000abcd",
        "CallSid": "CA5f0e2d8a1b9c4d7e6f5a4b3c2d1e0f9a",
        "CallStatus": "completed",
        "Direction": "inbound",
        "From": "+393471234567",
        "To": SUPPORT_LINE,
        "Timestamp": "Mon, 02 Mar 2026 08:41:07 +0000",
        "CallDuration": "184",
    }
    params.update(overrides)
    return params


def twilio_post(params: dict[str, str], url: str,
                token: str = TWILIO_TOKEN) -> tuple[bytes, dict[str, str]]:
    """A Twilio status callback, signed for the URL Twilio was given."""
    return urlencode(params).encode(), {
        "X-Twilio-Signature": twilio_signature(token, url, params),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def email_open(**overrides: Any) -> dict[str, Any]:
    """Giulia opens the e-mail announcing the spring coffee offer."""
    item: dict[str, Any] = {
        "email": "giulia.rossi@example.it", "timestamp": 1772441700, "event": "open",
        "sg_event_id": "ZXZ0LTEyMzQ1Njc4OS0open", "sg_message_id": "Xk3-q9VnTt2u8aB1c4D5eA.0",
    }
    item.update(overrides)
    return item


def sendgrid_post(items: list[dict[str, Any]],
                  key: ec.EllipticCurvePrivateKey = _SENDGRID_KEY) -> tuple[bytes, dict[str, str]]:
    """A SendGrid Event Webhook post, signed with the account's ECDSA key."""
    body = orjson.dumps(items)
    timestamp = "1772441760"
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                  "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
                  "Content-Type": "application/json"}


def courier_scan(**overrides: Any) -> dict[str, Any]:
    """The courier's handheld reports the espresso machine delivered at Giulia's door."""
    event: dict[str, Any] = {
        "event_id": "brt:BRT0012345678:delivered", "occurred_at": "2026-03-04T15:12:09+01:00",
        "channel": "courier", "touchpoint": "delivery", "outcome": "completed",
        "refs": {"order_id": "5917349085231"}, "source": "brt-scanner",
    }
    event.update(overrides)
    return event
