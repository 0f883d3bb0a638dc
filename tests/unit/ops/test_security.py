"""Kafka SASL/SSL settings reach every Kafka client; incomplete ones stop with the variable's name."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from journey_stitcher.errors import ConfigurationError
from journey_stitcher.kafka import faust_credentials, kafka_client_options
from journey_stitcher.settings import Settings

PASSWORD = "s3cr3t-scram-password"


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    """Settings read from these environment variables, as a container gets them."""
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"JOURNEY_STITCHER_{name.upper()}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def ca_file(tmp_path: Path) -> Path:
    """A self-signed CA certificate in PEM, as the broker's CA would be mounted."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kafka-ca.example.internal")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_plaintext_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without security variables the clients talk PLAINTEXT and Faust gets no credentials."""
    plain = settings(monkeypatch)
    assert kafka_client_options(plain) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(plain) is None


def test_sasl_ssl_with_scram_configures_tls_and_the_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The production overlay's SASL_SSL + SCRAM-SHA-512 with a mounted CA: aiokafka gets a TLS
    context trusting that CA and the SCRAM credentials; Faust the same, as SASLCredentials."""
    secure = settings(monkeypatch, JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                      JOURNEY_STITCHER_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
                      JOURNEY_STITCHER_KAFKA_SASL_USERNAME="journey-stitcher",
                      JOURNEY_STITCHER_KAFKA_SASL_PASSWORD=PASSWORD,
                      JOURNEY_STITCHER_KAFKA_SSL_CAFILE=str(ca_file(tmp_path)))
    options = kafka_client_options(secure)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "journey-stitcher", PASSWORD)
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert any(c["subject"] == ((("commonName", "kafka-ca.example.internal"),),)
               for c in context.get_ca_certs())

    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    faust_options = dict(credentials_to_aiokafka_auth(cast(Any, faust_credentials(secure))))
    assert isinstance(faust_options.pop("ssl_context"), ssl.SSLContext)
    assert faust_options == {k: v for k, v in options.items() if k != "ssl_context"}


async def test_every_aiokafka_client_accepts_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """Producer, consumer and admin client are built with the options as they are (nothing is
    connected: the broker is never asked)."""
    options = kafka_client_options(settings(
        monkeypatch, JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        JOURNEY_STITCHER_KAFKA_SASL_MECHANISM="PLAIN", JOURNEY_STITCHER_KAFKA_SASL_USERNAME="js",
        JOURNEY_STITCHER_KAFKA_SASL_PASSWORD=PASSWORD))
    producer = AIOKafkaProducer(bootstrap_servers="kafka:9092", **options)
    consumer = AIOKafkaConsumer(bootstrap_servers="kafka:9092", **options)
    admin = AIOKafkaAdminClient(bootstrap_servers="kafka:9092", **options)
    try:
        connections: list[Any] = [producer.client, consumer._client, admin._client]
        assert [(c._security_protocol, c._sasl_mechanism, c._sasl_plain_password)
                for c in connections] == [("SASL_PLAINTEXT", "PLAIN", PASSWORD)] * 3
    finally:
        await producer.stop()
        await consumer.stop()
        await admin.close()


def test_incomplete_sasl_settings_name_the_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """SASL without a password or mechanism stops before connecting, naming what to set and
    quoting no value."""
    partial = settings(monkeypatch, JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                       JOURNEY_STITCHER_KAFKA_SASL_USERNAME="journey-stitcher")
    with pytest.raises(ConfigurationError) as refused:
        kafka_client_options(partial)
    message = str(refused.value)
    assert "JOURNEY_STITCHER_KAFKA_SASL_MECHANISM" in message
    assert "JOURNEY_STITCHER_KAFKA_SASL_PASSWORD" in message
    assert "USERNAME" not in message


def test_an_unreadable_ca_file_names_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """A CA path that is not there stops with JOURNEY_STITCHER_KAFKA_SSL_CAFILE in the message."""
    broken = settings(monkeypatch, JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL="SSL",
                      JOURNEY_STITCHER_KAFKA_SSL_CAFILE=str(tmp_path / "missing.crt"))
    with pytest.raises(ConfigurationError, match="JOURNEY_STITCHER_KAFKA_SSL_CAFILE"):
        kafka_client_options(broken)


def test_the_sasl_password_never_shows_in_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings' repr and str, which end up in logs and tracebacks, hide the password."""
    secure = settings(monkeypatch, JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                      JOURNEY_STITCHER_KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
                      JOURNEY_STITCHER_KAFKA_SASL_USERNAME="js",
                      JOURNEY_STITCHER_KAFKA_SASL_PASSWORD=PASSWORD)
    assert PASSWORD not in repr(secure)
    assert PASSWORD not in str(secure)
    assert PASSWORD not in repr(faust_credentials(secure))


def test_empty_variables_mean_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Placeholder Secrets and ConfigMaps give empty strings: they leave TLS and SASL unset."""
    blank = settings(monkeypatch, JOURNEY_STITCHER_KAFKA_SASL_MECHANISM="",
                     JOURNEY_STITCHER_KAFKA_SSL_CAFILE="", JOURNEY_STITCHER_KAFKA_SASL_USERNAME="",
                     JOURNEY_STITCHER_KAFKA_SASL_PASSWORD="")
    assert kafka_client_options(blank) == {"security_protocol": "PLAINTEXT"}
