"""The ingest endpoints: signed vendor posts are published, and every refusal says why."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
import pytest

from journey_stitcher.adapters.signatures import shopify_hmac
from tests.unit.gateway.conftest import (
    INGEST_SECRET,
    PUBLIC_URL,
    SHOPIFY_SECRET,
    TWILIO_TOKEN,
    MemoryProducer,
    browse,
    call_status,
    courier_scan,
    email_open,
    gateway,
    gateway_settings,
    headers_of,
    login,
    segment_post,
    sendgrid_post,
    shopify_post,
    twilio_post,
    web_order,
)

# --- accepted ----------------------------------------------------------------------------------


async def test_a_signed_shopify_order_is_published_before_the_202() -> None:
    """Giulia's web order, signed by the shop, is in the producer by the time Shopify hears 202."""
    body, headers = shopify_post()
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/shopify", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 202
    assert answer == {"published": 1, "dead_lettered": 0, "rejected": [], "skipped": []}
    assert [e["event_id"] for e in producer.events] == ["shopify:5917349085231:orders/create"]
    assert producer.events[0]["touchpoint"] == "purchase"
    assert producer.dead_letters == []


async def test_a_signed_segment_batch_publishes_every_call() -> None:
    """Giulia's browsing and her login, posted by Segment's webhook, become two interactions."""
    body, headers = segment_post([browse(), login()])
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/segment", data=body, headers=headers)
    assert response.status == 202
    assert [e["touchpoint"] for e in producer.events] == ["inform", "identify"]


async def test_segment_may_authenticate_with_the_shared_secret_header() -> None:
    """A Segment HTTP API body sent by a relay carries X-Ingest-Secret instead of a signature."""
    body = orjson.dumps(browse())
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/segment.track", data=body,
                                      headers={"X-Ingest-Secret": INGEST_SECRET})
    assert response.status == 202
    assert len(producer.events) == 1


async def test_a_signed_sendgrid_post_is_published() -> None:
    """The opened offer e-mail, signed with SendGrid's ECDSA key, informs Giulia's journey."""
    body, headers = sendgrid_post([email_open()])
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/sendgrid", data=body, headers=headers)
    assert response.status == 202
    assert producer.events[0]["event_id"] == "sendgrid:ZXZ0LTEyMzQ1Njc4OS0open"


async def test_courier_scans_with_the_shared_secret_are_published_as_they_are() -> None:
    """The courier system posts canonical events with X-Ingest-Secret; they pass untouched."""
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/canonical", data=orjson.dumps(courier_scan()),
                                      headers={"X-Ingest-Secret": INGEST_SECRET})
    assert response.status == 202
    assert producer.events == [courier_scan()]


async def test_a_post_of_delivery_reports_only_is_accepted_with_nothing_published() -> None:
    """SendGrid's delivered report is not a touchpoint: 202 so it is not retried, 0 published."""
    body, headers = sendgrid_post([email_open(event="delivered", sg_event_id="ZXZ0-delivered")])
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/sendgrid", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 202
    assert answer["published"] == 0
    assert [item["reason"] for item in answer["skipped"]] == ["not_a_touchpoint"]
    assert producer.events == []


# --- Twilio: the signed URL --------------------------------------------------------------------


async def test_twilio_is_verified_against_the_configured_public_url() -> None:
    """Behind the load balancer, the callback verifies against the URL Twilio was given."""
    body, headers = twilio_post(call_status(), f"{PUBLIC_URL}/v1/ingest/twilio")
    async with gateway(gateway_settings(gateway_public_url=PUBLIC_URL + "/")) as (client, producer):
        response = await client.post("/v1/ingest/twilio", data=body, headers=headers)
        text = await response.text()
    assert response.status == 202
    assert response.content_type == "text/xml"
    assert text.endswith("<Response/>")
    assert producer.events[0]["channel"] == "voice"


async def test_twilio_behind_a_proxy_is_verified_against_the_forwarded_url() -> None:
    """Without a public URL, X-Forwarded-Proto and -Host rebuild the URL Twilio signed."""
    body, headers = twilio_post(call_status(), "https://ingest.shop.example.it/v1/ingest/twilio")
    headers |= {"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "ingest.shop.example.it"}
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/twilio", data=body, headers=headers)
    assert response.status == 202
    assert len(producer.events) == 1


async def test_twilio_signed_for_another_url_is_refused() -> None:
    """A callback signed for someone else's endpoint does not pass here."""
    body, headers = twilio_post(call_status(), "https://attacker.example.com/hook")
    async with gateway(gateway_settings(gateway_public_url=PUBLIC_URL)) as (client, producer):
        response = await client.post("/v1/ingest/twilio", data=body, headers=headers)
    assert response.status == 401
    assert producer.events == []


async def test_a_call_from_a_withheld_number_is_a_bad_payload() -> None:
    """A call from a hidden caller id says nothing about who called: 400 naming From."""
    body, headers = twilio_post(call_status(From="+266696687"), f"{PUBLIC_URL}/v1/ingest/twilio")
    async with gateway(gateway_settings(gateway_public_url=PUBLIC_URL)) as (client, producer):
        response = await client.post("/v1/ingest/twilio", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 400
    assert [(r["reason"], r["field"]) for r in answer["rejected"]] == [("no_identity", "From")]
    assert producer.nothing_sent


# --- refused -----------------------------------------------------------------------------------


async def test_a_forged_shopify_signature_is_refused_and_nothing_is_published() -> None:
    """An order signed with the wrong secret is answered 401 and never reaches Kafka."""
    body, headers = shopify_post(secret="not-the-shop-secret")
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/shopify", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 401
    assert answer["error"] == "invalid_signature"
    assert "X-Shopify-Hmac-Sha256" in answer["message"]
    assert producer.nothing_sent


async def test_a_body_changed_after_signing_is_refused() -> None:
    """SendGrid's signature covers the body byte for byte: an altered post is 401."""
    body, headers = sendgrid_post([email_open()])
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/sendgrid", data=body.replace(b"open", b"click"),
                                      headers=headers)
    assert response.status == 401
    assert producer.events == []


@pytest.mark.parametrize("adapter", ["shopify", "twilio", "sendgrid", "segment", "canonical", "csv"])
async def test_an_unsigned_post_is_refused(adapter: str) -> None:
    """A post without any signature header is 401 on every configured endpoint."""
    async with gateway() as (client, producer):
        response = await client.post(f"/v1/ingest/{adapter}", data=orjson.dumps(courier_scan()))
    assert response.status == 401
    assert producer.events == []


async def test_the_shared_secret_must_match_exactly() -> None:
    """A courier system presenting another secret is refused."""
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/canonical", data=orjson.dumps(courier_scan()),
                                      headers={"X-Ingest-Secret": INGEST_SECRET + "x"})
    assert response.status == 401
    assert producer.nothing_sent


async def test_an_endpoint_without_its_secret_answers_not_configured() -> None:
    """With no Shopify secret set, Shopify's endpoint refuses everything and names the variable."""
    body, headers = shopify_post()
    async with gateway(gateway_settings(shopify_secret=None)) as (client, producer):
        response = await client.post("/v1/ingest/shopify", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 503
    assert answer["error"] == "not_configured"
    assert "JOURNEY_STITCHER_SHOPIFY_SECRET" in answer["message"]
    assert "Retry-After" not in response.headers
    assert producer.events == []


async def test_demo_mode_accepts_unsigned_posts_only_where_no_secret_is_set() -> None:
    """With unsigned posts allowed, a secret-less endpoint accepts; a configured one still checks."""
    settings = gateway_settings(shopify_secret=None, gateway_allow_unsigned=True)
    body, _ = shopify_post()
    async with gateway(settings) as (client, producer):
        unsigned = await client.post("/v1/ingest/shopify", data=body,
                                     headers={"X-Shopify-Topic": "orders/create"})
        checked = await client.post("/v1/ingest/canonical", data=orjson.dumps(courier_scan()))
    assert unsigned.status == 202
    assert checked.status == 401
    assert len(producer.events) == 1


async def test_an_unknown_adapter_is_not_found() -> None:
    """A post to an adapter that does not exist is 404 and lists the ones that do."""
    async with gateway() as (client, _):
        response = await client.post("/v1/ingest/hubspot", data=b"{}")
        answer = await response.json()
    assert response.status == 404
    assert "shopify" in answer["message"]


# --- limits and bad payloads -------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_before_it_is_read() -> None:
    """A post announcing more bytes than allowed is refused as too large, nothing published."""
    body, headers = shopify_post(web_order(note="x" * 4096))
    async with gateway(gateway_settings(gateway_max_body_bytes=2048)) as (client, producer):
        response = await client.post("/v1/ingest/shopify", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 413
    assert answer["error"] == "too_large"
    assert producer.events == []


async def test_a_chunked_body_over_the_limit_is_413() -> None:
    """A body streamed without Content-Length is cut off at the limit all the same."""
    body, headers = shopify_post(web_order(note="x" * 4096))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start:start + 512]

    async with gateway(gateway_settings(gateway_max_body_bytes=2048)) as (client, producer):
        response = await client.post("/v1/ingest/shopify", data=chunks(), headers=headers)
    assert response.status == 413
    assert producer.events == []


async def test_a_body_that_is_not_json_is_400_with_the_reason() -> None:
    """A signed post that is not JSON is a bad payload: 400, reason listed, nothing published."""
    body = b"order=5917349085231"
    headers = {"X-Shopify-Topic": "orders/create",
               "X-Shopify-Hmac-Sha256": shopify_hmac(SHOPIFY_SECRET, body)}
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/shopify", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 400
    assert answer["error"] == "invalid_payload"
    assert [r["reason"] for r in answer["rejected"]] == ["invalid_json"]
    assert producer.nothing_sent


async def test_a_shopify_post_without_its_topic_header_is_400() -> None:
    """Without X-Shopify-Topic nobody can tell a purchase from a payment: 400 naming the header."""
    body, headers = shopify_post()
    del headers["X-Shopify-Topic"]
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/shopify", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 400
    assert answer["rejected"][0]["field"] == "X-Shopify-Topic"
    assert producer.events == []


async def test_a_batch_whose_every_item_is_rejected_publishes_nothing() -> None:
    """Two calls with impossible dates: 400 listing both, nothing published or dead-lettered."""
    body, headers = segment_post([browse(timestamp="2015-2-02T00:30:12.984Z"),
                                  login(timestamp="yesterday")])
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/segment", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 400
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [
        (0, "invalid_timestamp"), (1, "invalid_timestamp")]
    assert producer.nothing_sent


async def test_a_partly_bad_batch_publishes_the_good_calls_and_dead_letters_the_bad() -> None:
    """One broken call in Segment's batch: the others are published, it goes to the DLQ, 202."""
    bad = browse("ajs-bad-1", timestamp="2015-2-02T00:30:12.984Z")
    body, headers = segment_post([browse(), bad, login()])
    async with gateway() as (client, producer):
        response = await client.post("/v1/ingest/segment", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 202
    assert answer["published"] == 2
    assert answer["dead_lettered"] == 1
    assert answer["rejected"][0]["index"] == 1
    assert answer["rejected"][0]["item_id"] == "ajs-bad-1"
    [letter] = producer.dead_letters
    assert letter.topic == "interactions.dlq"
    assert orjson.loads(letter.value)["messageId"] == "ajs-bad-1"
    assert headers_of(letter) == {
        "error.reason": "invalid_timestamp",
        "error.message": "timestamp: invalid_timestamp (item 1 of a segment payload)",
        "source.topic": "gateway/segment",
        "source.partition": "-1",
        "source.offset": "-1",
    }


# --- Kafka -------------------------------------------------------------------------------------


async def test_kafka_down_is_503_with_retry_after_never_a_silent_drop() -> None:
    """When Kafka does not acknowledge, Shopify is told to come back later."""
    producer = MemoryProducer()
    producer.unavailable = True
    body, headers = shopify_post()
    async with gateway(producer=producer) as (client, _):
        response = await client.post("/v1/ingest/shopify", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert answer["error"] == "unavailable"


async def test_health_is_the_process_and_readiness_is_kafka() -> None:
    """/healthz answers while Kafka is down; /readyz says not ready until Kafka answers."""
    async with gateway() as (client, producer):
        assert producer.started
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 200
        producer.unavailable = True
        assert (await client.get("/healthz")).status == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status == 503
        assert (await not_ready.json())["status"] == "unavailable"
    assert not producer.started


# --- privacy -----------------------------------------------------------------------------------


async def test_no_identifier_or_secret_is_ever_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Accepted, rejected, refused and failed posts log counts and reasons, never who or keys."""
    caplog.set_level(logging.DEBUG)
    bad = browse("ajs-bad-1", timestamp="2015-2-02T00:30:12.984Z",
                 userId="giulia.rossi@example.it")
    segment_body, segment_headers = segment_post([login(), bad])
    shopify_body, shopify_headers = shopify_post()
    twilio_body, twilio_headers = twilio_post(call_status(), f"{PUBLIC_URL}/v1/ingest/twilio?k=v")
    producer = MemoryProducer()
    async with gateway(gateway_settings(gateway_public_url=PUBLIC_URL), producer) as (client, _):
        assert (await client.post("/v1/ingest/segment", data=segment_body,
                                  headers=segment_headers)).status == 202
        assert (await client.post("/v1/ingest/twilio?k=v", data=twilio_body,
                                  headers=twilio_headers)).status == 202
        forged = shopify_headers | {"X-Shopify-Hmac-Sha256": "AAAA"}
        assert (await client.post("/v1/ingest/shopify", data=shopify_body,
                                  headers=forged)).status == 401
        producer.unavailable = True
        assert (await client.post("/v1/ingest/shopify", data=shopify_body,
                                  headers=shopify_headers)).status == 503
    logged = caplog.text.lower()
    assert "ingest segment: 202" in logged
    for secret_or_value in ("giulia", "crm-000731", "347", "a-5c2e9d", "7712093487151",
                            SHOPIFY_SECRET, TWILIO_TOKEN, INGEST_SECRET):
        assert secret_or_value.lower() not in logged
    for letter in producer.dead_letters:
        assert "giulia" not in headers_of(letter)["error.message"]

