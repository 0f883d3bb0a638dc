"""A worker that starts stopping while its lag probe measures stops cleanly: the stop closes
the probe under the measurement (`WorkerOps._refresh_lag`). Seen in a CI rehearsal: the
refresh timer's ConsumerStoppedError crashed the worker on its way out (exit code 1)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import ConsumerStoppedError

from journey_stitcher.ops.lag import PartitionLag
from journey_stitcher.ops.worker import WorkerOps
from journey_stitcher.settings import Settings

OWNED = [TopicPartition("interactions", 0)]


class ProbeStoppedUnderneath:
    """A started probe whose measurement fails with `error`, after `during` ran."""

    started = True

    def __init__(self, error: Exception, during: object = None) -> None:
        self.error = error
        self.during = during

    async def start(self) -> None:
        raise AssertionError("already started")

    async def measure(self, group: str, partitions: Sequence[TopicPartition], *,
                      ages: bool = True) -> list[PartitionLag]:
        if callable(self.during):
            self.during()
        raise self.error


def _ops(probe: ProbeStoppedUnderneath) -> WorkerOps:
    ops = WorkerOps(Settings())
    ops._probe = probe  # type: ignore[assignment]  # the probe's measuring side only
    return ops


@pytest.mark.parametrize("error", [ConsumerStoppedError(), RuntimeError("LagProbe.start() first")])
def test_a_probe_stopped_by_the_worker_stopping_ends_the_measurement_quietly(error: Exception) -> None:
    probe = ProbeStoppedUnderneath(error)
    ops = _ops(probe)

    def stopping() -> None:  # what `_shutting_down` does
        ops._closed = True

    probe.during = stopping
    asyncio.run(ops._refresh_lag(OWNED))
    assert ops._closed


def test_the_same_error_while_the_worker_runs_is_not_hidden() -> None:
    ops = _ops(ProbeStoppedUnderneath(ConsumerStoppedError()))
    with pytest.raises(ConsumerStoppedError):
        asyncio.run(ops._refresh_lag(OWNED))
