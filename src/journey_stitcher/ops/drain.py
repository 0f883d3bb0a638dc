"""Knowing which batches are in progress, so that SIGTERM and rebalances wait for those only.

The agents take their stream through :meth:`Drain.batches`. A batch is in progress from the
moment it is handed to the agent until the agent asks for the next one, which it does only
after Kafka acknowledged the batch's outputs and the batch was acknowledged. On SIGTERM the
worker stops fetching and :meth:`Drain.wait_idle` returns once no batch is in progress and
none followed for a short quiet period (a batch the stream had already buffered is handed out
within the batch timeout); then the offsets are committed and the process exits.

Records delivered but not in a batch (buffered by Faust, or held back by the agent to restore
arrival order) are never waited for: they stay unacknowledged, so their offsets are not
committed and the next owner of the partition processes them. After :meth:`Drain.close`, a
batch that still comes is held unacknowledged the same way instead of being processed by an
agent that is about to be cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

__all__ = ["Drain"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Drain:
    """Counts the batches in progress; waits for none to be."""

    def __init__(self, quiet_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._quiet = quiet_seconds
        self._clock = clock
        self._busy = 0
        self._last_change = clock()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.stopping = False  # SIGTERM received: readiness fails from now on

    @property
    def busy(self) -> int:
        """Batches in progress."""
        return self._busy

    async def batches(self, source: AsyncIterator[Sequence[T]]) -> AsyncIterator[Sequence[T]]:
        """The batches of `source`, each counted as in progress until the next is asked for."""
        async for batch in source:
            if self._closed:
                _hold(batch)
                await asyncio.Event().wait()  # until the agent is cancelled
            self._busy += 1
            self._idle.clear()
            try:
                yield batch
            finally:
                self._busy -= 1
                self._last_change = self._clock()
                if self._busy == 0:
                    self._idle.set()

    async def wait_idle(self) -> None:
        """Until no batch is in progress, and none was for the quiet period since the call."""
        since = self._clock()
        if self._busy:
            log.info("waiting for %d batch(es) in progress", self._busy)
        while True:
            await self._idle.wait()
            remaining = max(since, self._last_change) + self._quiet - self._clock()
            if remaining <= 0 and self._idle.is_set():
                return
            await asyncio.sleep(max(remaining, 0.0))  # a buffered batch may still be handed out

    def close(self) -> None:
        """No batch is handed to an agent anymore (the worker is about to stop)."""
        self._closed = True


def _hold(batch: Sequence[Any]) -> None:
    """Keep a Faust batch unacknowledged: the stream's own acknowledgement only decrements."""
    for event in batch:
        event.message.incref()
