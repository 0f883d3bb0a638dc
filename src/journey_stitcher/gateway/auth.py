"""Who may post to which endpoint: each adapter's vendor signature, checked on the raw body.

* ``twilio`` — ``X-Twilio-Signature`` over the public URL and the form
  (``JOURNEY_STITCHER_TWILIO_AUTH_TOKEN``);
* ``sendgrid`` — ECDSA ``X-Twilio-Email-Event-Webhook-Signature`` + ``-Timestamp``
  (``JOURNEY_STITCHER_SENDGRID_PUBLIC_KEY``);
* ``shopify`` — ``X-Shopify-Hmac-Sha256`` over the body (``JOURNEY_STITCHER_SHOPIFY_SECRET``);
* ``segment``, ``segment.*`` — ``X-Signature`` (HMAC-SHA1 of the body) or ``X-Ingest-Secret``
  (``JOURNEY_STITCHER_INGEST_SECRET``);
* any other (``canonical``, ``csv``) — ``X-Ingest-Secret`` (``JOURNEY_STITCHER_INGEST_SECRET``).

An endpoint whose secret is unset is *not configured*: it refuses every post, unless
``gateway_allow_unsigned`` is on (local demos; refused in production), when it accepts them
unchecked. Secret values are never logged or put in an error message; only variable names are.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from journey_stitcher.adapters.base import header
from journey_stitcher.adapters.signatures import (
    SEGMENT_SIGNATURE_HEADER,
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    SHARED_SECRET_HEADER,
    SHOPIFY_HMAC_HEADER,
    TWILIO_SIGNATURE_HEADER,
    load_sendgrid_public_key,
    verify_segment_signature,
    verify_sendgrid_signature,
    verify_shared_secret,
    verify_shopify_hmac,
    verify_twilio_signature,
)
from journey_stitcher.errors import ConfigurationError
from journey_stitcher.settings import Settings

__all__ = ["Access", "Authenticator", "SignedRequest", "public_url"]

TWILIO_TOKEN_ENV = "JOURNEY_STITCHER_TWILIO_AUTH_TOKEN"
SENDGRID_KEY_ENV = "JOURNEY_STITCHER_SENDGRID_PUBLIC_KEY"
SHOPIFY_SECRET_ENV = "JOURNEY_STITCHER_SHOPIFY_SECRET"
INGEST_SECRET_ENV = "JOURNEY_STITCHER_INGEST_SECRET"
ALLOW_UNSIGNED_ENV = "JOURNEY_STITCHER_GATEWAY_ALLOW_UNSIGNED"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a signature is checked against: the URL the sender called, headers, raw body."""

    url: str
    headers: Mapping[str, str]
    body: bytes


class Access(enum.Enum):
    """The verdict on one request."""

    GRANTED = "granted"  # the signature (or shared secret) is right
    UNSIGNED = "unsigned"  # no secret configured and unsigned posts are allowed (demo mode)
    DENIED = "denied"  # wrong or missing signature: 401
    NOT_CONFIGURED = "not_configured"  # no secret configured for this endpoint: 503


Check = Callable[[SignedRequest], bool]


@dataclass(frozen=True, slots=True)
class _Rule:
    check: Check | None  # None: the secret is not configured
    proof: str  # the header(s) the sender must present, for messages
    variable: str  # the environment variable holding the secret


class Authenticator:
    """Per-adapter signature checks, built once from the settings (bad keys fail at start)."""

    def __init__(self, settings: Settings) -> None:
        self._allow_unsigned = settings.gateway_allow_unsigned
        if self._allow_unsigned and settings.environment == "production":
            raise ConfigurationError(
                f"{ALLOW_UNSIGNED_ENV}: unsigned posts are refused in production "
                "(JOURNEY_STITCHER_ENVIRONMENT=production); configure the vendor secrets instead"
            )
        ingest = _value(settings.ingest_secret)
        twilio = _value(settings.twilio_auth_token)
        shopify = _value(settings.shopify_secret)
        sendgrid = _sendgrid_key(settings.sendgrid_public_key)
        self._twilio = _Rule(_twilio_check(twilio) if twilio else None,
                             TWILIO_SIGNATURE_HEADER, TWILIO_TOKEN_ENV)
        self._sendgrid = _Rule(_sendgrid_check(sendgrid) if sendgrid else None,
                               f"{SENDGRID_SIGNATURE_HEADER} and {SENDGRID_TIMESTAMP_HEADER}",
                               SENDGRID_KEY_ENV)
        self._shopify = _Rule(_shopify_check(shopify) if shopify else None,
                              SHOPIFY_HMAC_HEADER, SHOPIFY_SECRET_ENV)
        self._segment = _Rule(_segment_check(ingest) if ingest else None,
                              f"{SEGMENT_SIGNATURE_HEADER} or {SHARED_SECRET_HEADER}",
                              INGEST_SECRET_ENV)
        self._shared = _Rule(_shared_check(ingest) if ingest else None,
                             SHARED_SECRET_HEADER, INGEST_SECRET_ENV)

    def _rule(self, adapter: str) -> _Rule:
        vendor = adapter.split(".", 1)[0]
        rules = {"twilio": self._twilio, "sendgrid": self._sendgrid,
                 "shopify": self._shopify, "segment": self._segment}
        return rules.get(vendor, self._shared)

    def configured(self, adapter: str) -> bool:
        """Whether the endpoint of ``adapter`` accepts posts at all (signed or, in demo, not)."""
        return self._rule(adapter).check is not None or self._allow_unsigned

    def verify(self, adapter: str, request: SignedRequest) -> Access:
        """The verdict on ``request`` posted to the endpoint of ``adapter``."""
        check = self._rule(adapter).check
        if check is None:
            return Access.UNSIGNED if self._allow_unsigned else Access.NOT_CONFIGURED
        return Access.GRANTED if check(request) else Access.DENIED

    def proof(self, adapter: str) -> str:
        """The header(s) a sender must present to the endpoint of ``adapter``."""
        return self._rule(adapter).proof

    def variable(self, adapter: str) -> str:
        """The environment variable that configures the endpoint of ``adapter``."""
        return self._rule(adapter).variable

    def describe(self, adapters: Iterable[str]) -> dict[str, str]:
        """Adapter → "signed" / "UNSIGNED" / "not configured", for the start-up log line."""
        return {
            name: "signed" if self._rule(name).check is not None
            else "UNSIGNED" if self._allow_unsigned else "not configured"
            for name in adapters
        }


def public_url(
    *, base: str | None, scheme: str, host: str, path_qs: str, headers: Mapping[str, str]
) -> str:
    """The URL the sender called, query string included, as the vendor signed it.

    ``base`` (the configured public URL, possibly with a path prefix a proxy strips) wins;
    otherwise the first ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` values a proxy set, else
    the request's own scheme and ``Host``. Trusting these headers is safe: a forged value can
    only make a signature fail.
    """
    if base:
        return base.rstrip("/") + path_qs
    proto = _first(header(headers, "X-Forwarded-Proto")) or scheme
    forwarded_host = _first(header(headers, "X-Forwarded-Host")) or host
    return f"{proto}://{forwarded_host}{path_qs}"


def _first(value: str | None) -> str | None:
    """The first (client-side) entry of a comma-separated forwarding header."""
    if value is None:
        return None
    first = value.split(",", 1)[0].strip()
    return first or None


def _value(secret: SecretStr | None) -> str | None:
    if secret is None:
        return None
    return secret.get_secret_value() or None


def _sendgrid_key(secret: SecretStr | None) -> ec.EllipticCurvePublicKey | None:
    text = _value(secret)
    if text is None:
        return None
    try:
        return load_sendgrid_public_key(text)
    except ValueError as error:  # the message describes the key's shape, never its value
        raise ConfigurationError(f"{SENDGRID_KEY_ENV}: {error}") from None


def _twilio_check(token: str) -> Check:
    def check(request: SignedRequest) -> bool:
        try:  # a JSON body is signed through the URL's bodySHA256 instead (checked with it)
            params = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            params = []
        return verify_twilio_signature(token, request.url, params,
                                       header(request.headers, TWILIO_SIGNATURE_HEADER),
                                       body=request.body)

    return check


def _sendgrid_check(key: ec.EllipticCurvePublicKey) -> Check:
    # No freshness window: a replayed post carries the same event ids, deduplicated downstream,
    # while SendGrid's retries (up to 24 h) must still pass.
    def check(request: SignedRequest) -> bool:
        return verify_sendgrid_signature(
            key, request.body, header(request.headers, SENDGRID_TIMESTAMP_HEADER),
            header(request.headers, SENDGRID_SIGNATURE_HEADER),
        )

    return check


def _shopify_check(secret: str) -> Check:
    def check(request: SignedRequest) -> bool:
        return verify_shopify_hmac(secret, request.body,
                                   header(request.headers, SHOPIFY_HMAC_HEADER))

    return check


def _segment_check(secret: str) -> Check:
    shared = _shared_check(secret)

    def check(request: SignedRequest) -> bool:
        signature = header(request.headers, SEGMENT_SIGNATURE_HEADER)
        if signature is not None:
            return verify_segment_signature(secret, request.body, signature)
        return shared(request)

    return check


def _shared_check(secret: str) -> Check:
    def check(request: SignedRequest) -> bool:
        return verify_shared_secret(secret, header(request.headers, SHARED_SECRET_HEADER))

    return check
