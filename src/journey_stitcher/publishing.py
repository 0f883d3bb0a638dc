"""`journey-stitcher publish`: JSON Lines of interactions to the `interactions` topic.

Each record is keyed by the event's highest-priority usable identifier (its keyed hash,
never the raw value), or its first owned reference, so one person's events mostly share
a partition. Lines that are not valid events are published as they are: the worker's
identity stage gives them their dead-letter reason, exactly as for any other producer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from journey_stitcher.config import StitcherConfig
from journey_stitcher.errors import InvalidInput
from journey_stitcher.identity.normalize import Normalizer
from journey_stitcher.identity.resolver import REF_PREFIX
from journey_stitcher.ids import Hasher
from journey_stitcher.interactions.parse import parse_interaction


@dataclass(slots=True)
class PublishReport:
    """What `publish` sent."""

    sent: int = 0
    unkeyed: int = 0
    partitions: Counter[int] = field(default_factory=Counter)


class PartitionKeys:
    """The partition key of a raw interaction."""

    def __init__(self, config: StitcherConfig, pepper: bytes) -> None:
        self._config = config
        self._normalizer = Normalizer(config.catalog, config.default_phone_region, Hasher(pepper))

    def __call__(self, raw: bytes) -> bytes | None:
        try:
            event = parse_interaction(raw, self._config)
        except InvalidInput:
            return None
        identifiers, _ = self._normalizer.resolve(event.identifiers)
        if identifiers:
            types = self._config.catalog.identifier_types
            best = max(identifiers, key=lambda i: types[i.type].priority)
            return best.key.encode()
        refs = sorted(f"{REF_PREFIX}{k}:{v}" for k, v in event.refs.items()
                      if k in self._config.catalog.owned_refs)
        return refs[0].encode() if refs else None


async def publish_lines(
    lines: Iterable[bytes], *, bootstrap: str, topic: str, keys: PartitionKeys,
    progress: Iterator[None] | None = None, chunk: int = 2000,
    options: Mapping[str, Any] | None = None,
) -> PublishReport:
    """Send every non-empty line; returns once Kafka acknowledged all of them.

    `options`: client security (`kafka.kafka_client_options`)."""
    report = PublishReport()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                enable_idempotence=True, max_batch_size=262_144,
                                **(options or {}))
    await producer.start()
    try:
        pending: list[asyncio.Future[object]] = []
        stamp = 0
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            key = keys(line)
            report.unkeyed += key is None
            # Strictly increasing timestamps: the file's order is the order of arrival, which
            # the worker restores across partitions from them (worker.ordering).
            stamp = max(int(time.time() * 1000), stamp + 1)
            pending.append(await producer.send(topic, line, key=key, timestamp_ms=stamp))
            if len(pending) >= chunk:
                await _settle(pending, report, progress)
        await _settle(pending, report, progress)
    finally:
        await producer.stop()
    return report


async def _settle(
    pending: list[asyncio.Future[object]], report: PublishReport, progress: Iterator[None] | None
) -> None:
    for metadata in await asyncio.gather(*pending):
        report.sent += 1
        report.partitions[getattr(metadata, "partition", -1)] += 1
        if progress is not None:
            next(progress, None)
    pending.clear()
