"""Liveness and readiness of the worker (`/healthz`, `/readyz`).

Liveness is more than "the process answers": a worker whose stream stopped moving while
records wait is dead for its partitions. :class:`Liveness` fails when a topic has consumer lag
and no batch of it completed for `stall_seconds` (a Redis or Kafka outage retried forever, a
hung rebalance). Having nothing to do counts as progress: a measured lag of 0 resets the clock.

Readiness (:class:`Readiness`) runs named checks concurrently, each within a timeout: for the
worker, partitions assigned, not stopping, a Kafka metadata request and a Redis PING.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from redis.exceptions import AuthenticationError, ResponseError

__all__ = ["CheckResult", "Liveness", "NotReady", "Readiness", "describe_error"]


class NotReady(Exception):
    """A readiness check failed; the message says why (never a secret)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: ok or not, and a one-line detail."""

    name: str
    ok: bool
    detail: str


class Liveness:
    """Whether every topic with lag has made progress recently."""

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._stall = stall_seconds
        self._clock = clock
        self._since = clock()
        self._progress: dict[str, float] = {}
        self._lag: dict[str, int] = {}

    def progressed(self, topic: str) -> None:
        """A batch of `topic` completed."""
        self._progress[topic] = self._clock()

    def lagging(self, lag_by_topic: Mapping[str, int]) -> None:
        """The lag just measured on the owned partitions, per topic; topics not named have none."""
        now = self._clock()
        self._lag = dict(lag_by_topic)
        for topic, lag in self._lag.items():
            if lag == 0:
                self._progress[topic] = now

    def restarted(self) -> None:
        """Partitions were (re)assigned: every topic gets a full period to move again."""
        now = self._clock()
        self._since = now
        self._progress = dict.fromkeys(self._progress, now)

    def check(self) -> CheckResult:
        now = self._clock()
        for topic, lag in sorted(self._lag.items()):
            idle = now - max(self._progress.get(topic, self._since), self._since)
            if lag > 0 and idle > self._stall:
                return CheckResult("stream", False, f"no batch of {topic} completed for {idle:.0f} s "
                                                    f"while {lag} records wait")
        return CheckResult("stream", True, "making progress")


Check = Callable[[], Awaitable[str]]


class Readiness:
    """Named async checks: each returns a detail or raises; all run at once, each bounded."""

    def __init__(self, checks: Mapping[str, Check], timeout: float = 2.0) -> None:
        self._checks = dict(checks)
        self._timeout = timeout

    async def check(self) -> list[CheckResult]:
        return list(await asyncio.gather(*(self._one(name, check)
                                           for name, check in self._checks.items())))

    async def _one(self, name: str, check: Check) -> CheckResult:
        try:
            async with asyncio.timeout(self._timeout):
                return CheckResult(name, True, await check())
        except TimeoutError:
            return CheckResult(name, False, f"no answer within {self._timeout:g} s")
        except Exception as error:  # any failure makes the check fail; the detail says which
            return CheckResult(name, False, describe_error(error))


def describe_error(error: BaseException) -> str:
    """One line about a failure, naming the setting to look at; never a secret."""
    if isinstance(error, NotReady):
        return str(error)
    if isinstance(error, AuthenticationError) or (
        isinstance(error, ResponseError) and str(error).startswith(("NOAUTH", "WRONGPASS"))
    ):
        return f"Redis refused the credentials of REDIS_URL ({type(error).__name__}: {error})"
    text = str(error)
    name = type(error).__name__
    if text.startswith(name):  # aiokafka's errors name themselves
        return text
    return f"{name}: {text}" if text else name
