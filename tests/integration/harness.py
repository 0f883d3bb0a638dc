"""Running real workers against the real broker and Redis, and reading what they emit."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from journey_stitcher.config import load_config
from journey_stitcher.isolation import worker_environment
from journey_stitcher.kafka import ensure_topics
from journey_stitcher.publishing import PartitionKeys, publish_lines
from journey_stitcher.replay import replay
from journey_stitcher.stitcher import Stitcher

PEPPER = "integration-pepper"
OUTPUT_TOPICS = ("journeys", "handoffs", "identities", "dlq")


@dataclass(frozen=True)
class Deployment:
    """One isolated installation: its own topics, consumer group and Redis key prefix."""

    bootstrap: str
    redis_url: str
    name: str = field(default_factory=lambda: f"it-{uuid.uuid4().hex[:10]}")
    partitions: int = 1

    def topic(self, logical: str) -> str:
        return f"{self.name}.{logical}"

    @property
    def prefix(self) -> str:
        return self.name

    def env(self, **extra: str) -> dict[str, str]:
        extra.setdefault("JOURNEY_STITCHER_ABANDONMENT_INTERVAL_SECONDS", "1")
        return worker_environment(self.name, self.bootstrap, self.redis_url, pepper=PEPPER,
                                  partitions=self.partitions, **extra)

    async def publish(self, lines: Iterable[bytes]) -> int:
        """Publish interaction lines the way `journey-stitcher publish` does."""
        topics = [self.topic(t) for t in ("interactions", *OUTPUT_TOPICS)]
        await ensure_topics(self.bootstrap, topics, self.partitions)
        keys = PartitionKeys(load_config(None), PEPPER.encode())
        report = await publish_lines(lines, bootstrap=self.bootstrap,
                                     topic=self.topic("interactions"), keys=keys)
        return report.sent


class Worker:
    """A `journey-stitcher worker` process."""

    def __init__(self, deployment: Deployment, log: Path, **env: str) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "journey_stitcher", "worker"],
            env=deployment.env(**env), stdout=self._log, stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no draining, no commit."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = orjson.loads(self.value)
        return event


async def read_topics(
    bootstrap: str, topics: Iterable[str], *, at_least: int, timeout: float,
    settle: float = 0.0,
) -> list[Record]:
    """Every record of `topics` from the beginning, once at least `at_least` arrived (and,
    with `settle`, nothing more arrived for that long); fails after `timeout` seconds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    records: list[Record] = []
    try:
        partitions = []
        for topic in topics:
            found = await _partitions_of(consumer, topic, timeout)
            partitions += [TopicPartition(topic, p) for p in found]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        last_growth = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for m in messages:
                    records.append(Record(m.topic, m.partition, m.key, m.value, tuple(m.headers or ())))
                    last_growth = time.monotonic()
            if len(records) >= at_least and time.monotonic() - last_growth >= settle:
                return records
        raise AssertionError(f"only {len(records)} of at least {at_least} records arrived "
                             f"on {list(topics)} within {timeout}s")
    finally:
        await consumer.stop()


async def _partitions_of(consumer: AIOKafkaConsumer, topic: str, timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)  # polling the broker's metadata, with a deadline
    raise AssertionError(f"topic {topic} never appeared")


def replay_outputs(lines: list[bytes]) -> list[dict[str, Any]]:
    """What `journey-stitcher replay` emits for `lines` with the same pepper."""
    out = io.BytesIO()
    replay(Stitcher(load_config(None), PEPPER.encode()), lines, out, None)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def replayed(lines: list[bytes]) -> Stitcher:
    """The stitcher after `journey-stitcher replay` of `lines` (its counts, its state)."""
    stitcher = Stitcher(load_config(None), PEPPER.encode())
    replay(stitcher, lines, io.BytesIO(), None)
    return stitcher
