"""Webhook signatures: only requests signed with the vendor's secret are believed."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from journey_stitcher.adapters.signatures import (
    load_sendgrid_public_key,
    segment_signature,
    shopify_hmac,
    twilio_signature,
    verify_segment_signature,
    verify_sendgrid_signature,
    verify_shared_secret,
    verify_shopify_hmac,
    verify_twilio_signature,
)
from tests.unit.adapters.conftest import VENDOR_SAMPLES, needs_vendor_samples

# --- Twilio --------------------------------------------------------------------------------------

# Twilio's worked example (security documentation and every helper library's tests).
TWILIO_DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_DOC_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                     "From": "+14158675309", "To": "+18005551212"}
TWILIO_DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="

HOOK = "https://ingest.shop.example.it/v1/ingest/twilio"
STATUS = {"CallSid": "CA5f0e", "CallStatus": "completed", "From": "+393471234567",
          "To": "+390212345699"}


def test_twilio_signature_matches_the_documented_example() -> None:
    """The signature of Twilio's documented request is the one Twilio publishes."""
    assert twilio_signature("12345", TWILIO_DOC_URL, TWILIO_DOC_PARAMS) == TWILIO_DOC_SIGNATURE
    assert verify_twilio_signature("12345", TWILIO_DOC_URL, TWILIO_DOC_PARAMS,
                                   TWILIO_DOC_SIGNATURE)


@pytest.mark.parametrize(
    ("token", "url", "params"),
    [
        ("54321", TWILIO_DOC_URL, TWILIO_DOC_PARAMS),
        ("12345", TWILIO_DOC_URL + "&baz=3", TWILIO_DOC_PARAMS),
        ("12345", TWILIO_DOC_URL, {**TWILIO_DOC_PARAMS, "Digits": "9999"}),
        ("12345", TWILIO_DOC_URL, {**TWILIO_DOC_PARAMS, "Extra": ""}),
    ],
)
def test_twilio_signature_fails_when_anything_was_changed(
    token: str, url: str, params: dict[str, str]
) -> None:
    """Another token, URL or parameter value breaks the signature."""
    assert not verify_twilio_signature(token, url, params, TWILIO_DOC_SIGNATURE)


def test_twilio_parameters_are_signed_sorted_by_name_then_value() -> None:
    """Repeated parameters are signed in sorted order, whatever order they arrived in."""
    pairs = [("To", "+390212345699"), ("Digits", "2"), ("Digits", "1"), ("CallSid", "CA5f0e")]
    expected = twilio_signature("tok", HOOK, sorted(pairs))
    assert verify_twilio_signature("tok", HOOK, pairs, expected)
    assert not verify_twilio_signature("tok", HOOK, [*pairs, ("Digits", "3")], expected)


def test_twilio_signature_survives_a_proxy_adding_or_dropping_the_default_port() -> None:
    """Twilio signed the configured URL; :443 added or removed on the way still verifies."""
    signed = twilio_signature("tok", HOOK, STATUS)
    assert verify_twilio_signature("tok", HOOK.replace(".it/", ".it:443/"), STATUS, signed)
    with_port = twilio_signature("tok", HOOK.replace(".it/", ".it:443/"), STATUS)
    assert verify_twilio_signature("tok", HOOK, STATUS, with_port)
    assert not verify_twilio_signature("tok", HOOK.replace(".it/", ".it:8443/"), STATUS, signed)


def test_twilio_json_body_is_checked_against_its_hash_in_the_url() -> None:
    """For a JSON body Twilio signs the URL with bodySHA256; the body must match that hash."""
    body = b'{"CallSid":"CA5f0e","CallStatus":"completed"}'
    digest = hashlib.sha256(body).hexdigest()
    url = f"{HOOK}?bodySHA256={digest}"
    signed = twilio_signature("tok", url)
    assert verify_twilio_signature("tok", url, None, signed, body=body)
    assert not verify_twilio_signature("tok", url, None, signed, body=body + b" ")
    assert not verify_twilio_signature("tok", url, None, signed)


def test_a_missing_twilio_signature_is_not_valid() -> None:
    """A request without X-Twilio-Signature is refused."""
    assert not verify_twilio_signature("tok", HOOK, STATUS, None)
    assert not verify_twilio_signature("tok", HOOK, STATUS, "")


def test_an_empty_twilio_token_is_a_configuration_error() -> None:
    """Checking against an empty auth token would be checking nothing."""
    with pytest.raises(ValueError, match="empty"):
        verify_twilio_signature("", HOOK, STATUS, "x")


# --- Shopify and Segment -------------------------------------------------------------------------

ORDER = b'{"id":820982911946154508,"email":"giulia@example.it"}'
# Computed independently: openssl dgst -sha256 -hmac shpss_test_secret -binary | base64
ORDER_HMAC = "o39mrR4kz4BdjQA2kC1jvlB5OSxDcdh6Lpc/HrntY2o="

TRACK = b'{"type":"track","event":"Product Viewed","userId":"u-1"}'
# Computed independently: openssl dgst -sha1 -hmac segment-shared-secret
TRACK_SIGNATURE = "fe9894c144072ade29c40a8c3494e50915616398"


def test_shopify_hmac_signs_the_raw_body() -> None:
    """X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the exact bytes Shopify sent."""
    assert shopify_hmac("shpss_test_secret", ORDER) == ORDER_HMAC
    assert verify_shopify_hmac("shpss_test_secret", ORDER, ORDER_HMAC)
    assert not verify_shopify_hmac("shpss_test_secret", ORDER + b"\n", ORDER_HMAC)
    assert not verify_shopify_hmac("another_secret", ORDER, ORDER_HMAC)
    assert not verify_shopify_hmac("shpss_test_secret", ORDER, None)


def test_segment_signature_is_the_hex_hmac_of_the_body() -> None:
    """Segment's webhook destination signs the body with the shared secret (X-Signature)."""
    assert segment_signature("segment-shared-secret", TRACK) == TRACK_SIGNATURE
    assert verify_segment_signature("segment-shared-secret", TRACK, TRACK_SIGNATURE.upper())
    assert not verify_segment_signature("segment-shared-secret", TRACK + b" ", TRACK_SIGNATURE)
    assert not verify_segment_signature("segment-shared-secret", TRACK, None)


def test_the_shared_secret_header_must_match_exactly() -> None:
    """The canonical endpoint believes a request carrying its shared secret and nothing else."""
    assert verify_shared_secret("s3cret-ingest", "s3cret-ingest")
    assert not verify_shared_secret("s3cret-ingest", "s3cret-ingesT")
    assert not verify_shared_secret("s3cret-ingest", "s3cret")
    assert not verify_shared_secret("s3cret-ingest", None)
    with pytest.raises(ValueError, match="empty"):
        verify_shared_secret("", "")


# --- SendGrid ------------------------------------------------------------------------------------

_VECTORS = sorted((VENDOR_SAMPLES / "sendgrid").glob("signature_vector*.json"))


def _vector(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = orjson.loads(path.read_bytes())
    return vector


@needs_vendor_samples
def test_the_published_sendgrid_vectors_are_found_beside_the_samples() -> None:
    """An empty parameter set below would only skip: with the samples present, the SendGrid
    vectors must be among them."""
    assert _VECTORS, f"no SendGrid signature vectors under {VENDOR_SAMPLES / 'sendgrid'}"


@needs_vendor_samples
@pytest.mark.parametrize("path", _VECTORS, ids=[p.name for p in _VECTORS])
def test_sendgrid_published_vectors_verify_and_their_negatives_do_not(path: Path) -> None:
    """SendGrid's SDK test vectors: the real signature verifies, each tampered variant fails."""
    v = _vector(path)
    payload = v["payload"].encode()
    assert verify_sendgrid_signature(v["public_key"], payload, v["timestamp"], v["signature"])
    bad = v["negative_cases"]
    assert not verify_sendgrid_signature(bad["wrong_public_key"], payload, v["timestamp"],
                                         v["signature"])
    assert not verify_sendgrid_signature(v["public_key"], bad["wrong_payload"].encode(),
                                         v["timestamp"], v["signature"])
    assert not verify_sendgrid_signature(v["public_key"], payload, v["timestamp"],
                                         bad["wrong_signature"])
    assert not verify_sendgrid_signature(v["public_key"], payload, bad["wrong_timestamp"],
                                         v["signature"])


def _signed(body: bytes, timestamp: str) -> tuple[str, str]:
    """A fresh key pair: (public key as SendGrid shows it, signature of timestamp + body)."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(public).decode(), base64.b64encode(signature).decode()


def test_sendgrid_signature_covers_timestamp_and_body() -> None:
    """A request signed by the account's key verifies; a changed body or timestamp does not."""
    body = b'[{"email":"giulia.rossi@example.it","event":"open","timestamp":1772441700}]\r\n'
    key, signature = _signed(body, "1772441705")
    assert verify_sendgrid_signature(key, body, "1772441705", signature)
    assert verify_sendgrid_signature(load_sendgrid_public_key(key), body, "1772441705", signature)
    assert not verify_sendgrid_signature(key, body.rstrip(), "1772441705", signature)
    assert not verify_sendgrid_signature(key, body, "1772441706", signature)
    assert not verify_sendgrid_signature(key, body, None, signature)
    assert not verify_sendgrid_signature(key, body, "1772441705", "not base64!")


def test_sendgrid_replays_outside_the_allowed_age_are_refused() -> None:
    """A correctly signed request from an hour ago is refused when at most 10 minutes are allowed."""
    body = b"[]"
    key, signature = _signed(body, "1772441705")
    sent = datetime.fromtimestamp(1772441705, UTC)
    fresh = sent + timedelta(minutes=2)
    stale = sent + timedelta(hours=1)
    limit = timedelta(minutes=10)
    assert verify_sendgrid_signature(key, body, "1772441705", signature, now=fresh, max_age=limit)
    assert not verify_sendgrid_signature(key, body, "1772441705", signature, now=stale,
                                         max_age=limit)


def test_sendgrid_key_in_pem_form_is_accepted() -> None:
    """The verification key may be pasted as PEM as well as bare base64."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    signature = base64.b64encode(private.sign(b"1[]", ec.ECDSA(hashes.SHA256()))).decode()
    assert verify_sendgrid_signature(pem, b"[]", "1", signature)


@pytest.mark.parametrize("key", ["", "not a key", base64.b64encode(b"\x30\x03\x02\x01\x01").decode()])
def test_an_unreadable_sendgrid_key_is_a_configuration_error(key: str) -> None:
    """A wrong verification key must stop the gateway, not quietly reject every request."""
    with pytest.raises(ValueError, match="key"):
        load_sendgrid_public_key(key)


def test_a_sendgrid_key_on_another_curve_is_refused() -> None:
    """SendGrid signs with P-256; a P-384 key is a misconfiguration."""
    other = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="P-256"):
        load_sendgrid_public_key(base64.b64encode(other).decode())
