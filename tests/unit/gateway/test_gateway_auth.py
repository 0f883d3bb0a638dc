"""Who may post: secrets come from the settings, and a misconfiguration stops the start."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from journey_stitcher.errors import ConfigurationError
from journey_stitcher.gateway.app import create_gateway
from journey_stitcher.gateway.auth import Access, Authenticator, SignedRequest, public_url
from tests.unit.gateway.conftest import INGEST_SECRET, MemoryProducer, gateway_settings


def test_unsigned_demo_mode_is_refused_in_production() -> None:
    """A production gateway never accepts unsigned posts: it does not start, naming the setting."""
    settings = gateway_settings(environment="production", gateway_allow_unsigned=True)
    with pytest.raises(ConfigurationError, match="JOURNEY_STITCHER_GATEWAY_ALLOW_UNSIGNED"):
        create_gateway(settings, MemoryProducer())


def test_an_unreadable_sendgrid_key_stops_the_start_without_showing_it() -> None:
    """A wrong verification key is named by its variable; its value is not repeated."""
    settings = gateway_settings(sendgrid_public_key=SecretStr("not-a-key-4711"))
    with pytest.raises(ConfigurationError, match="JOURNEY_STITCHER_SENDGRID_PUBLIC_KEY") as error:
        Authenticator(settings)
    assert "4711" not in str(error.value)


def test_an_empty_secret_counts_as_not_configured() -> None:
    """JOURNEY_STITCHER_INGEST_SECRET= (empty) does not open the courier endpoint to anyone."""
    auth = Authenticator(gateway_settings(ingest_secret=SecretStr("")))
    request = SignedRequest("http://gw/v1/ingest/canonical", {"X-Ingest-Secret": ""}, b"{}")
    assert not auth.configured("canonical")
    assert auth.verify("canonical", request) is Access.NOT_CONFIGURED


def test_every_adapter_without_a_vendor_signature_uses_the_shared_secret() -> None:
    """The CSV endpoint, like the canonical one, takes X-Ingest-Secret (any header case)."""
    auth = Authenticator(gateway_settings())
    request = SignedRequest("http://gw/v1/ingest/csv", {"x-ingest-secret": INGEST_SECRET}, b"")
    assert auth.verify("csv", request) is Access.GRANTED
    assert auth.describe(["csv", "shopify"]) == {"csv": "signed", "shopify": "signed"}


def test_the_settings_repr_never_shows_a_secret() -> None:
    """Printing the settings (a crash report, a debug line) hides every vendor secret."""
    text = repr(gateway_settings()) + str(gateway_settings().model_dump())
    assert INGEST_SECRET not in text


@pytest.mark.parametrize(
    ("base", "headers", "expected"),
    [
        ("https://ingest.shop.example.it/", {}, "https://ingest.shop.example.it/v1/ingest/twilio?a=1"),
        ("https://shop.example.it/hooks", {"X-Forwarded-Proto": "http"},
         "https://shop.example.it/hooks/v1/ingest/twilio?a=1"),
        (None, {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ingest.shop.example.it"},
         "https://ingest.shop.example.it/v1/ingest/twilio?a=1"),
        (None, {"x-forwarded-proto": "https,http"}, "https://10.0.0.7:8080/v1/ingest/twilio?a=1"),
        (None, {}, "http://10.0.0.7:8080/v1/ingest/twilio?a=1"),
    ],
)
def test_the_public_url_is_the_one_the_vendor_called(
    base: str | None, headers: dict[str, str], expected: str
) -> None:
    """The configured public URL wins, then the proxy's forwarded headers, then the request."""
    assert public_url(base=base, scheme="http", host="10.0.0.7:8080",
                      path_qs="/v1/ingest/twilio?a=1", headers=headers) == expected
