"""Kafka plumbing shared by the commands: topic creation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, replication: int = 1
) -> None:
    """Create the topics among `names` that do not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
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


async def ensure_topic(bootstrap: str, name: str, partitions: int, replication: int = 1) -> None:
    """Create topic `name` when it does not exist yet."""
    await ensure_topics(bootstrap, [name], partitions, replication)
