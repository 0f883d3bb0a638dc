"""The bare-Faust baseline of `make bench`: the worker's topology without the stitching.

interactions ──► re-key (hash of the value) ──► <resolved> ──► one record to `journeys`

Same Faust settings, batching (`take_events`), concurrency 1 and awaited acknowledgements as
the worker; no parsing, no Redis. Configured from the same environment as the worker
(`Settings`); run with `python -m journey_stitcher.bench.passthrough`.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import faust

from journey_stitcher.kafka import ensure_topics
from journey_stitcher.settings import Settings


def create_app(settings: Settings) -> faust.App:
    """The pass-through application, ready for `faust.Worker`."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        store="memory://",
        datadir=settings.faust_datadir(),
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
        stream_wait_empty=False,
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                           "key_serializer": "raw", "value_serializer": "raw"}
    interactions = app.topic(settings.topic_interactions, partitions=settings.partitions, **raw)
    resolved = app.topic(settings.topic_resolved, partitions=settings.partitions, internal=True, **raw)
    output = settings.topic_journeys

    async def forward(events: list[Any], topic: str, rekey: bool) -> None:
        pending = []
        for event in events:
            message = event.message
            key = hashlib.blake2b(message.value, digest_size=8).hexdigest().encode() if rekey \
                else message.key
            pending.append(await app.producer.send(topic, key, message.value, None, None, None))
        await asyncio.gather(*pending)

    @app.agent(interactions, concurrency=1, name="rekey")
    async def rekey_agent(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size,
                                               within=settings.batch_timeout_seconds):
            await forward(batch, settings.topic_resolved, True)

    @app.agent(resolved, concurrency=1, name="emit")
    async def emit_agent(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size,
                                               within=settings.batch_timeout_seconds):
            await forward(batch, output, False)

    return app


def main() -> None:
    settings = Settings()
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers,
                              [settings.topic_interactions, settings.topic_journeys],
                              settings.partitions, settings.replication_factor))
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
