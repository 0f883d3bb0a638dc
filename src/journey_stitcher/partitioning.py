"""Kafka's default partitioner (murmur2 of the key), remembering the keys it met last.

The worker chooses a partition for the same customer several times per interaction: the
re-keyed record (`worker.ordering.Produced`), the shard of its state (`KeyLayout.shard`) and
each output record (the producer's partitioner). aiokafka's murmur2 is pure Python, ~2 % of
the worker's CPU in a py-spy profile of the journey stage: busy customers' keys come back
batch after batch, so they are hashed once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2

__all__ = ["KeyPartitioner", "partition_of"]

# ~250 bytes per remembered key: 16,384 keys are ~4 MB.
CACHED_KEYS = 16_384


@lru_cache(maxsize=CACHED_KEYS)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key` among `partitions`."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class KeyPartitioner:
    """The producer's partitioner (Faust's `producer_partitioner`): Kafka's default one, the
    same choices as aiokafka's `DefaultPartitioner`, with `partition_of`'s memory."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int],
                 available: Sequence[int]) -> int:
        if key is None:  # spread keyless records, as the default partitioner does
            return random.choice(available or all_partitions)
        return all_partitions[partition_of(key, len(all_partitions))]
