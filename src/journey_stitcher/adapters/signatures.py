"""Webhook signature checks: pure functions, secrets passed in, constant-time comparisons.

Each ``verify_*`` returns True or False for a signature (a missing or malformed one is False);
it raises ``ValueError`` only for a misconfiguration (an empty secret, an unreadable public key),
which must never read as "valid".

* Twilio — ``X-Twilio-Signature``: base64 HMAC-SHA1 (auth token) of the URL followed by the
  sorted form parameters.
* SendGrid — ``X-Twilio-Email-Event-Webhook-Signature`` and ``...-Timestamp``: base64 DER
  ECDSA P-256 / SHA-256 over the timestamp followed by the raw body.
* Shopify — ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 (app secret) of the raw body.
* Segment (Webhooks destination) — ``X-Signature``: hex HMAC-SHA1 (shared secret) of the body.
* Any sender that can set a header — ``X-Ingest-Secret``: the shared secret itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

__all__ = [
    "SEGMENT_SIGNATURE_HEADER",
    "SENDGRID_SIGNATURE_HEADER",
    "SENDGRID_TIMESTAMP_HEADER",
    "SHARED_SECRET_HEADER",
    "SHOPIFY_HMAC_HEADER",
    "TWILIO_SIGNATURE_HEADER",
    "load_sendgrid_public_key",
    "segment_signature",
    "shopify_hmac",
    "twilio_signature",
    "verify_segment_signature",
    "verify_sendgrid_signature",
    "verify_shared_secret",
    "verify_shopify_hmac",
    "verify_twilio_signature",
]

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
SHOPIFY_HMAC_HEADER = "X-Shopify-Hmac-Sha256"
SEGMENT_SIGNATURE_HEADER = "X-Signature"
SHARED_SECRET_HEADER = "X-Ingest-Secret"


def _secret(value: str | bytes, name: str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    if not raw:
        raise ValueError(f"{name} is empty: refusing to check signatures against it")
    return raw


def _same(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode(), presented.strip().encode())


# --- shared secret ------------------------------------------------------------------------------


def verify_shared_secret(expected: str, presented: str | None) -> bool:
    """True when the header value ``presented`` is the shared secret (constant time)."""
    secret = _secret(expected, "the shared secret")
    if presented is None:
        return False
    return hmac.compare_digest(secret, presented.strip().encode())


# --- Twilio -------------------------------------------------------------------------------------

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(params: Params | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    if isinstance(params, Mapping):
        return list(params.items())
    return list(params)


def twilio_signature(auth_token: str, url: str, params: Params | None = None) -> str:
    """The X-Twilio-Signature of a request: base64 HMAC-SHA1 of the URL followed by every
    POST parameter name and value, sorted by name (repeated names by value)."""
    payload = url + "".join(key + value for key, value in sorted(_pairs(params)))
    digest = hmac.new(_secret(auth_token, "the Twilio auth token"), payload.encode(),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its default port and with it: Twilio signs the URL it was
    configured with, and a proxy may add or drop ``:443``."""
    parts = urlsplit(url)
    variants = [url]
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or parts.hostname is None:
        return variants
    userinfo = parts.netloc.rpartition("@")[0]
    host = parts.netloc.rpartition("@")[2]
    bare_host = host.rsplit(":", 1)[0] if parts.port is not None else host
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{bare_host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{bare_host}")))
    return variants


def verify_twilio_signature(
    auth_token: str,
    url: str,
    params: Params | None,
    signature: str | None,
    *,
    body: bytes | None = None,
) -> bool:
    """True when ``signature`` (the X-Twilio-Signature header) signs this request.

    ``url`` is the full URL Twilio requested, query string included; ``params`` the POST form
    parameters. For a JSON body Twilio adds ``bodySHA256`` to the URL and signs the URL alone:
    pass the raw ``body`` and it is checked against that hash.
    """
    if not signature:
        return False
    query = parse_qs(urlsplit(url).query)
    if "bodySHA256" in query:
        if body is None:
            return False
        if not _same(hashlib.sha256(body).hexdigest(), query["bodySHA256"][0]):
            return False
        params = None
    return any(
        _same(twilio_signature(auth_token, candidate, params), signature)
        for candidate in _url_variants(url)
    )


# --- Shopify ------------------------------------------------------------------------------------


def shopify_hmac(secret: str, body: bytes) -> str:
    """The X-Shopify-Hmac-Sha256 of a body: base64 HMAC-SHA256 with the app's secret."""
    digest = hmac.new(_secret(secret, "the Shopify webhook secret"), body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def verify_shopify_hmac(secret: str, body: bytes, signature: str | None) -> bool:
    """True when ``signature`` (the X-Shopify-Hmac-Sha256 header) signs the raw ``body``."""
    if not signature:
        return False
    return _same(shopify_hmac(secret, body), signature)


# --- Segment ------------------------------------------------------------------------------------


def segment_signature(secret: str, body: bytes) -> str:
    """The X-Signature of a Segment webhook: hex HMAC-SHA1 of the body with the shared secret."""
    return hmac.new(_secret(secret, "the Segment shared secret"), body, hashlib.sha1).hexdigest()


def verify_segment_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """True when ``signature`` (the X-Signature header) signs the raw ``body``."""
    if not signature:
        return False
    return _same(segment_signature(secret, body), signature.lower())


# --- SendGrid -----------------------------------------------------------------------------------


def load_sendgrid_public_key(key: str) -> ec.EllipticCurvePublicKey:
    """The verification key SendGrid shows for the signed Event Webhook (base64 DER or PEM)."""
    text = key.strip()
    if not text:
        raise ValueError("the SendGrid verification key is empty")
    try:
        if text.startswith("-----BEGIN"):
            loaded = load_pem_public_key(text.encode())
        else:
            loaded = load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as error:
        raise ValueError(f"the SendGrid verification key is not a public key: {error}") from None
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != "secp256r1":
        raise ValueError("the SendGrid verification key is not an ECDSA P-256 key")
    return loaded


def verify_sendgrid_signature(
    public_key: str | ec.EllipticCurvePublicKey,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: datetime | None = None,
    max_age: timedelta | None = None,
) -> bool:
    """True when ``signature`` (base64 DER ECDSA) signs ``timestamp`` + the raw ``body``.

    With ``now`` and ``max_age``, a timestamp further than ``max_age`` from ``now`` is refused
    too (a replayed request).
    """
    if not signature or not timestamp:
        return False
    key = public_key if isinstance(public_key, ec.EllipticCurvePublicKey) else (
        load_sendgrid_public_key(public_key)
    )
    if now is not None and max_age is not None:
        if not timestamp.strip().isdigit():
            return False
        sent = datetime.fromtimestamp(int(timestamp), now.tzinfo)
        if abs(now - sent) > max_age:
            return False
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
