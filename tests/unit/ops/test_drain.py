"""The drain waits for the batches in progress, and only for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from journey_stitcher.ops.drain import Drain


@dataclass
class Message:
    refcount: int = 0

    def incref(self) -> None:
        self.refcount += 1


@dataclass
class Event:
    message: Message = field(default_factory=Message)


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def stream(
    batches: asyncio.Queue[list[Event]], handed_out: asyncio.Event | None = None
) -> AsyncIterator[Sequence[Event]]:
    while True:
        batch = await batches.get()
        if handed_out is not None:
            handed_out.set()
        yield batch


async def test_stopping_waits_for_the_batch_in_progress() -> None:
    """SIGTERM during a batch: the wait ends only after the agent finished that batch."""
    drain = Drain(quiet_seconds=0.01)
    batches: asyncio.Queue[list[Event]] = asyncio.Queue()
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def agent() -> None:
        async for batch in drain.batches(stream(batches)):
            started.set()
            await release.wait()  # Redis and Kafka take their time
            finished.append(len(batch))

    task = asyncio.create_task(agent())
    await batches.put([Event(), Event()])
    await started.wait()
    assert drain.busy == 1
    waiting = asyncio.create_task(drain.wait_idle())
    await asyncio.sleep(0.05)
    assert not waiting.done(), "returned while a batch was in progress"
    release.set()
    await asyncio.wait_for(waiting, timeout=5)
    assert finished == [2]
    await stopped(task)


async def test_an_idle_worker_stops_after_the_quiet_period() -> None:
    """No batch in progress: the wait only gives a buffered batch the time to come out."""
    drain = Drain(quiet_seconds=0.02)
    await asyncio.wait_for(drain.wait_idle(), timeout=5)


async def test_after_close_a_late_batch_is_held_unacknowledged() -> None:
    """A batch handed out after the drain closed never reaches the agent, and each of its
    messages keeps an extra reference, so Faust cannot commit past it."""
    drain = Drain(quiet_seconds=0.01)
    batches: asyncio.Queue[list[Event]] = asyncio.Queue()
    seen: list[Any] = []
    handed_out = asyncio.Event()

    async def agent() -> None:
        async for batch in drain.batches(stream(batches, handed_out)):
            seen.append(batch)

    task = asyncio.create_task(agent())
    drain.close()
    late = [Event(), Event()]
    await batches.put(late)
    await handed_out.wait()
    await asyncio.sleep(0)
    assert seen == []
    assert [e.message.refcount for e in late] == [1, 1]
    await stopped(task)
