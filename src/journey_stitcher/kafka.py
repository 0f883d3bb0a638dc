"""Kafka plumbing shared by the commands: client security options and topic creation.

Every Kafka client the project creates (the worker's Faust app, `publish`, the gateway's
producer, topic creation, `lag`) takes its security from :func:`kafka_client_options`, built
from the `JOURNEY_STITCHER_KAFKA_*` settings. The options hold the SASL password in clear:
hand them to a client, never to a log line.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from journey_stitcher.errors import ConfigurationError
from journey_stitcher.settings import Settings

__all__ = ["ensure_topic", "ensure_topics", "faust_credentials", "kafka_client_options"]

_SASL_VARIABLES = ("MECHANISM", "USERNAME", "PASSWORD")


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of an aiokafka producer, consumer or admin client: security only.

    Raises ``ConfigurationError`` naming the variable when SASL settings are incomplete or the
    CA file cannot be read.
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        password = settings.kafka_sasl_password
        values = (settings.kafka_sasl_mechanism, settings.kafka_sasl_username,
                  password.get_secret_value() if password is not None else None)
        missing = [f"JOURNEY_STITCHER_KAFKA_SASL_{name}"
                   for name, value in zip(_SASL_VARIABLES, values, strict=True) if not value]
        if missing:
            raise ConfigurationError(f"{', '.join(missing)}: required with "
                                     f"JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL={protocol}")
        options.update(sasl_mechanism=values[0], sasl_plain_username=values[1],
                       sasl_plain_password=values[2])
    return options


def faust_credentials(settings: Settings) -> object | None:
    """The same security as Faust's `broker_credentials` (None for PLAINTEXT)."""
    import faust  # here: the commands that do not run the worker need not import Faust

    options = kafka_client_options(settings)
    if "sasl_mechanism" in options:
        return faust.SASLCredentials(
            username=options["sasl_plain_username"], password=options["sasl_plain_password"],
            ssl_context=options.get("ssl_context"), mechanism=options["sasl_mechanism"],
        )
    if "ssl_context" in options:
        return faust.SSLCredentials(options["ssl_context"])
    return None


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    cafile = settings.kafka_ssl_cafile
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(
            f"JOURNEY_STITCHER_KAFKA_SSL_CAFILE: cannot load the CA certificates of {cafile}: "
            f"{error}"
        ) from None
    return context


async def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, replication: int = 1, *,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Create the topics among `names` that do not exist yet (`options`: client security)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, replication)
                   for name in dict.fromkeys(names) if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def ensure_topic(
    bootstrap: str, name: str, partitions: int, replication: int = 1, *,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Create topic `name` when it does not exist yet."""
    await ensure_topics(bootstrap, [name], partitions, replication, options=options)
