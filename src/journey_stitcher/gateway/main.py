"""`journey-stitcher gateway`: serve the ingest endpoints until SIGTERM/SIGINT.

On SIGTERM aiohttp stops accepting connections, lets the requests in flight finish (each
answers only after Kafka acknowledged), then the producer flushes and disconnects.
"""

from __future__ import annotations

import logging

from aiohttp import web

from journey_stitcher.adapters import Adapter, build_adapters
from journey_stitcher.adapters.twilio import TwilioConfig
from journey_stitcher.config import StitcherConfig
from journey_stitcher.gateway.app import PathOnlyAccessLogger, create_gateway
from journey_stitcher.gateway.producer import InteractionProducer
from journey_stitcher.kafka import kafka_client_options
from journey_stitcher.publishing import PartitionKeys
from journey_stitcher.settings import Settings

__all__ = ["build_producer", "run_gateway"]

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 30.0


def build_producer(
    settings: Settings, config: StitcherConfig, *, topic: str | None = None
) -> InteractionProducer:
    """The producer of the gateway (not connected yet), keyed like `publish`."""
    return InteractionProducer(
        bootstrap=settings.kafka_bootstrap_servers,
        topic=topic or settings.topic_interactions,
        dlq_topic=settings.topic_dlq,
        keys=PartitionKeys(config, settings.pepper_bytes()),
        send_timeout=settings.gateway_send_timeout_seconds,
        partitions=settings.partitions,
        replication=settings.replication_factor,
        client_options=kafka_client_options(settings),
    )


def run_gateway(
    settings: Settings, config: StitcherConfig, *, host: str | None = None, port: int | None = None
) -> None:
    """Run the gateway (host and port default to the settings).

    Raises ``ConfigurationError`` before listening when a secret or the pepper is unusable.
    """
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    producer = build_producer(settings, config)
    app = create_gateway(settings, producer, adapters=adapters_for(settings))  # raises before binding
    if settings.pepper_is_development:
        log.warning("no JOURNEY_STITCHER_PEPPER set: partition keys use the development pepper")
    bind_host, bind_port = host or settings.gateway_host, port or settings.gateway_port
    log.info("gateway listening on http://%s:%d", bind_host, bind_port)
    web.run_app(
        app,
        host=bind_host,
        port=bind_port,
        access_log_class=PathOnlyAccessLogger,
        shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        print=None,
    )


def adapters_for(settings: Settings) -> dict[str, Adapter]:
    """The adapter registry with the deployment's own mappings (the Twilio lines)."""
    twilio = TwilioConfig(lines=dict(settings.twilio_lines),
                          default_touchpoint=settings.twilio_default_touchpoint)
    return build_adapters(twilio=twilio)
