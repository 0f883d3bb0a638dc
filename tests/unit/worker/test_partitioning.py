"""`partitioning`: Kafka's default partitioner, with a memory of busy keys."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from journey_stitcher.partitioning import KeyPartitioner, partition_of
from journey_stitcher.storage.redis_state import KeyLayout
from journey_stitcher.worker.ordering import Produced

KEYS = [f"cus_{n:024x}".encode() for n in range(0, 5_000_000, 997)] + [b"", b"x", "ü".encode()]


def test_the_same_choices_as_the_default_partitioner_cached_or_not() -> None:
    default, ours = DefaultPartitioner(), KeyPartitioner()
    for partitions in (1, 3, 8, 12):
        every = list(range(partitions))
        expected = [default(key, every, every) for key in KEYS]
        assert [ours(key, every, every) for key in KEYS] == expected
        assert [ours(key, every, every) for key in KEYS] == expected  # now from the cache
        assert [partition_of(key, partitions) for key in KEYS] == expected


def test_the_worker_places_records_and_shards_as_kafka_does() -> None:
    default, every = DefaultPartitioner(), list(range(8))
    rekeyed, layout = Produced("resolved", 8), KeyLayout(prefix="js", shards=8)
    for key in KEYS[:200]:
        assert rekeyed.partition(key) == default(key, every, every)
        assert layout.shard(key.decode()) == default(key, every, every)


def test_keyless_records_go_to_an_available_partition() -> None:
    ours = KeyPartitioner()
    assert {ours(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert {ours(None, [0, 1, 2, 3], []) for _ in range(200)} <= {0, 1, 2, 3}
