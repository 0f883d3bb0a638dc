"""The one settings object, built at the edge from the environment (12-factor), frozen.

Every variable is listed in the README with its default. Secrets are `SecretStr`: they
never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from journey_stitcher.errors import ConfigurationError

# Used only outside production when no pepper is configured, so that development runs and
# tests still hash; production refuses to start without a real one (SPEC §6.9).
DEVELOPMENT_PEPPER = b"journey-stitcher/development-pepper/not-a-secret"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """Configuration of every journey-stitcher process."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="JOURNEY_STITCHER_")

    environment: Literal["development", "production"] = "development"
    pepper: SecretStr | None = None
    config: Path | None = None  # the YAML configuration file (catalog and processing options)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092",
                                         validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"))
    redis_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"),
                                 validation_alias=_env("REDIS_URL"))

    app_id: str = "journey-stitcher"  # also the Kafka consumer group
    redis_prefix: str = "js"
    partitions: int = Field(8, ge=1)
    replication_factor: int = Field(1, ge=1)
    topic_interactions: str = "interactions"
    topic_resolved: str = "journey-stitcher.resolved"
    topic_journeys: str = "journeys"
    topic_handoffs: str = "handoffs"
    topic_identities: str = "identities"
    topic_dlq: str = "interactions.dlq"

    batch_size: int = Field(500, ge=1)
    batch_timeout_seconds: float = Field(0.02, gt=0)
    # Decoded customer states kept between batches, bounded by the size of their stored values
    # (MiB): more saves decoding busy customers again, each MiB costs several in memory.
    state_cache_mb: float = Field(8.0, ge=0)
    # How often the worker hands the C heap's free pages back to the system (glibc's
    # malloc_trim, `ops.heap`); 0: never.
    heap_trim_seconds: float = Field(10.0, ge=0)
    abandonment_interval_seconds: float = Field(5.0, gt=0)
    web_enabled: bool = True
    web_port: int = Field(6066, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    log_level: str = "info"
    # Faust's working directory (it keeps no state there: tables live in memory, state in
    # Redis). Unset: <system temp dir>/journey-stitcher/<app id>, never the current directory.
    datadir: Path | None = None

    # Operations (docs/operations.md): /healthz fails when a topic with consumer lag has had no
    # batch for `stall_seconds`; the worker measures its lag every `lag_interval_seconds`.
    stall_seconds: float = Field(60.0, gt=0)
    lag_interval_seconds: float = Field(10.0, gt=0)

    # Kafka security, for every Kafka client of every process (`kafka.kafka_client_options`,
    # which also checks that they are complete).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # None: the system's CAs

    # HTTP ingest gateway (`journey-stitcher gateway`, docs/channels.md "Gateway").
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8080, ge=1, le=65535)
    gateway_max_body_bytes: int = Field(1_048_576, ge=1)
    # The URL vendors call, e.g. https://ingest.example.com: Twilio signs it, and behind a
    # proxy the request's own URL differs. Unset: rebuilt from X-Forwarded-Proto/-Host and Host.
    gateway_public_url: str | None = None
    # Local demos only: endpoints whose secret is unset accept unsigned posts (refused in
    # production); otherwise they answer 503 "not configured".
    gateway_allow_unsigned: bool = False
    gateway_send_timeout_seconds: float = Field(10.0, gt=0)  # Kafka must acknowledge within
    gateway_retry_after_seconds: int = Field(5, ge=1)  # Retry-After of a 503
    twilio_auth_token: SecretStr | None = None  # X-Twilio-Signature
    # The company's phone lines (E.164) → touchpoint of calls and texts on them, as JSON:
    # {"+390212345600": "inform", "+390212345699": "support"}; other numbers: the default.
    twilio_lines: dict[str, str] = Field(default_factory=dict)
    twilio_default_touchpoint: str = "support"
    sendgrid_public_key: SecretStr | None = None  # Signed Event Webhook verification key
    shopify_secret: SecretStr | None = None  # X-Shopify-Hmac-Sha256
    ingest_secret: SecretStr | None = None  # X-Ingest-Secret (canonical, csv, segment)

    @field_validator("kafka_sasl_mechanism", "kafka_ssl_cafile", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (a placeholder Secret or ConfigMap entry) means "not set"."""
        return None if value == "" else value

    def faust_datadir(self) -> Path:
        """Faust's data directory; its parent is created here (Faust creates only the leaf)."""
        path = self.datadir or Path(tempfile.gettempdir()) / "journey-stitcher" / self.app_id
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def pepper_bytes(self) -> bytes:
        """The pepper; the development one outside production; refuses production without."""
        if self.pepper is not None and self.pepper.get_secret_value():
            return self.pepper.get_secret_value().encode()
        if self.environment == "production":
            raise ConfigurationError(
                "JOURNEY_STITCHER_PEPPER: required in production (JOURNEY_STITCHER_ENVIRONMENT"
                "=production) to hash identifier values; set it to a long random secret"
            )
        return DEVELOPMENT_PEPPER

    @property
    def pepper_is_development(self) -> bool:
        return self.pepper is None or not self.pepper.get_secret_value()
