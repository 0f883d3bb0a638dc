"""One isolated installation on a shared Kafka and Redis.

An installation named `name` has its own topics (`<name>.<logical topic>`), consumer group
(`name`) and Redis key prefix (`name`). The demo, the benchmarks and the integration tests
run their workers this way, side by side on one broker and one Redis, without seeing each
other.
"""

from __future__ import annotations

import os

LOGICAL_TOPICS = ("interactions", "resolved", "journeys", "handoffs", "identities", "dlq")


def topic_names(name: str) -> dict[str, str]:
    """Logical topic → the installation's topic name."""
    return {logical: f"{name}.{logical}" for logical in LOGICAL_TOPICS}


def worker_environment(
    name: str, bootstrap: str, redis_url: str, *, pepper: str, partitions: int = 8,
    topics: dict[str, str] | None = None, **extra: str,
) -> dict[str, str]:
    """The environment of a `journey-stitcher worker` of installation `name` (this process's
    environment plus the installation's settings; `topics` overrides some topic names)."""
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "REDIS_URL": redis_url,
        "JOURNEY_STITCHER_PEPPER": pepper,
        "JOURNEY_STITCHER_APP_ID": name,
        "JOURNEY_STITCHER_REDIS_PREFIX": name,
        "JOURNEY_STITCHER_PARTITIONS": str(partitions),
        "JOURNEY_STITCHER_WEB_ENABLED": "false",
        "JOURNEY_STITCHER_LOG_LEVEL": "warning",
    })
    for logical, topic in {**topic_names(name), **(topics or {})}.items():
        env[f"JOURNEY_STITCHER_TOPIC_{logical.upper()}"] = topic
    env.update(extra)
    return env
