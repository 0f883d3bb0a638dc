"""Putting records of several partitions back in arrival order.

Kafka keeps order only within a partition. An interaction stream spread over partitions
by identifier reaches the worker partition by partition, in chunks, so without help a
customer's later interactions can be stitched before earlier ones. `ArrivalMerge` merges
the partitions by record timestamp (the time each interaction arrived; `publish` and the
gateway's producer set it), the way Kafka Streams advances "stream time": it hands out
the oldest queued record only while every partition that may still deliver something
older has a record queued, and holds the rest until then. Within a partition the offset
order is kept. A caught-up partition does not hold the others back; neither does a full
buffer (`limit`), which then releases its oldest records.

What is held is bounded the way Kafka Streams bounds it (`buffered.records.per.partition`):
the worker stops taking records of a partition that has `crowded` many queued, until they
drain, so a partition fetched ahead of the others cannot pile up in memory while the merge
waits for an older record of another one (`worker.app.InArrivalOrder`).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from journey_stitcher.partitioning import partition_of

T = TypeVar("T")


class ArrivalMerge(Generic[T]):
    """A k-way merge of per-partition queues by arrival timestamp."""

    def __init__(self, limit: int = 50_000) -> None:
        self._queues: dict[int, deque[tuple[int, T]]] = {}
        self._limit = limit
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def expect(self, partitions: Iterable[int]) -> None:
        """Partitions that may deliver records (the assigned ones), even before they do."""
        for partition in partitions:
            self._queues.setdefault(partition, deque())

    def add(self, partition: int, timestamp: int, item: T) -> None:
        """Queue `item`; call in offset order within each partition."""
        self._queues.setdefault(partition, deque()).append((timestamp, item))
        self._size += 1

    def release(self, may_deliver: Callable[[int], bool]) -> list[T]:
        """The items that can go now, oldest first. `may_deliver(p)` tells whether partition
        `p` may still deliver records not consumed yet (it is not caught up)."""
        out: list[T] = []
        queues = self._queues
        while self._size:
            starving = any(not queue and may_deliver(p) for p, queue in queues.items())
            if starving and self._size <= self._limit:
                break
            _, partition = min((queue[0][0], p) for p, queue in queues.items() if queue)
            out.append(queues[partition].popleft()[1])
            self._size -= 1
        return out

    def queued(self, partition: int) -> int:
        queue = self._queues.get(partition)
        return len(queue) if queue is not None else 0

    def crowded(self, threshold: int) -> set[int]:
        """The partitions with at least `threshold` records queued."""
        return {p for p, queue in self._queues.items() if len(queue) >= threshold}

    def forget(self, keep: Iterable[int]) -> list[T]:
        """Drop (and return) what is queued for partitions not in `keep` (revoked)."""
        kept = set(keep)
        dropped: list[T] = []
        for partition in [p for p in self._queues if p not in kept]:
            dropped += [item for _, item in self._queues.pop(partition)]
        self._size -= len(dropped)
        return dropped


class Produced:
    """What this process produces to one topic, partition by partition: how many records
    are on their way and the last offset Kafka acknowledged.

    The journey stage merges the re-keyed topic back into arrival order, and that topic is
    written while it is read: a partition that looks caught up by its high-water mark may be
    about to receive an older record this very process is sending. Counting those sends as
    "may still deliver" closes that gap for everything one worker produces itself (records
    re-keyed by another worker are only known through the high-water marks). Partitions are
    chosen here, as Kafka's default partitioner would (murmur2 of the key), so that they are
    known before the send."""

    def __init__(self, topic: str, partitions: int) -> None:
        self.topic = topic
        self._partitions = partitions
        self._in_flight: Counter[int] = Counter()
        self._acknowledged: dict[int, int] = {}

    def partition(self, key: bytes) -> int:
        return partition_of(key, self._partitions)

    def begin(self, partitions: Iterable[int]) -> None:
        self._in_flight.update(partitions)

    def acknowledged(self, partition: int, offset: int) -> None:
        self._acknowledged[partition] = max(offset, self._acknowledged.get(partition, -1))

    def end(self, partitions: Iterable[int]) -> None:
        self._in_flight.subtract(partitions)

    def in_flight(self, partition: int) -> bool:
        return self._in_flight[partition] > 0

    def end_offset(self, partition: int) -> int:
        """One past the last offset acknowledged to this process (0: none yet)."""
        return self._acknowledged.get(partition, -1) + 1
