"""Records of several partitions come out in arrival order (`ArrivalMerge`)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from journey_stitcher.worker.ordering import ArrivalMerge


def test_one_partition_passes_straight_through() -> None:
    """With a single partition every record goes at once, in offset order."""
    merge: ArrivalMerge[str] = ArrivalMerge()
    for offset, stamp in enumerate([5, 3, 9]):
        merge.add(0, stamp, f"r{offset}")
    assert merge.release(lambda p: True) == ["r0", "r1", "r2"]
    assert len(merge) == 0


def test_a_partition_with_nothing_queued_holds_younger_records_back() -> None:
    """While partition 1 may still deliver older records, partition 0's are held."""
    merge: ArrivalMerge[str] = ArrivalMerge()
    merge.add(0, 10, "a10")
    merge.add(0, 30, "a30")
    merge.add(1, 20, "b20")
    assert merge.release(lambda p: True) == ["a10", "b20"]  # then partition 1 is empty
    assert len(merge) == 1
    merge.add(1, 40, "b40")
    assert merge.release(lambda p: True) == ["a30"]
    assert merge.release(lambda p: False) == ["b40"]  # caught up: nothing older can come


def test_a_full_buffer_releases_its_oldest_records() -> None:
    """Past the limit the merge gives up waiting and releases the oldest records."""
    merge: ArrivalMerge[int] = ArrivalMerge(limit=2)
    merge.add(1, 0, -1)
    merge.release(lambda p: True)  # partition 1 is known and now empty
    for stamp in range(5):
        merge.add(0, stamp, stamp)
    assert merge.release(lambda p: True) == [0, 1, 2]
    assert len(merge) == 2


def test_revoked_partitions_are_forgotten() -> None:
    """Records of a partition this worker lost are dropped, not processed."""
    merge: ArrivalMerge[str] = ArrivalMerge()
    merge.add(0, 1, "a")
    merge.add(1, 2, "b")
    assert merge.forget(keep=[0]) == ["b"]
    assert merge.release(lambda p: True) == ["a"]


@given(st.lists(st.integers(0, 7), min_size=1, max_size=200), st.randoms())
def test_any_chunking_of_the_partitions_restores_the_arrival_order(
    partitions: list[int], rng: random.Random
) -> None:
    """However the partitions are fetched in chunks, the merge hands out records in the
    order they arrived."""
    arrivals = list(enumerate(partitions))  # (arrival timestamp, partition)
    pending = {p: [t for t, q in arrivals if q == p] for p in set(partitions)}
    merge: ArrivalMerge[int] = ArrivalMerge()
    merge.expect(pending)
    out: list[int] = []
    while any(pending.values()):
        partition = rng.choice([p for p, queue in pending.items() if queue])
        size = rng.randint(1, 20)
        chunk, pending[partition] = pending[partition][:size], pending[partition][size:]
        for stamp in chunk:
            merge.add(partition, stamp, stamp)
        out += merge.release(lambda p: bool(pending[p]))
    out += merge.release(lambda p: False)
    assert out == [stamp for stamp, _ in arrivals]


def test_crowded_partitions_are_those_with_enough_queued() -> None:
    merge: ArrivalMerge[int] = ArrivalMerge()
    merge.expect([0, 1, 2])
    for offset in range(5):
        merge.add(0, offset, offset)
    merge.add(1, 0, 0)
    assert merge.crowded(5) == {0}
    assert merge.crowded(1) == {0, 1}
    assert (merge.queued(0), merge.queued(2), merge.queued(9)) == (5, 0, 0)
