"""Liveness fails on a stuck stream, not on an idle one; readiness names what is missing."""

from __future__ import annotations

import asyncio

from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from journey_stitcher.ops.health import Liveness, NotReady, Readiness, describe_error


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_with_lag_and_no_batch_for_the_stall_period_is_not_alive() -> None:
    """Records wait on interactions and no batch completed for more than 60 s: /healthz fails,
    naming the topic; the next batch makes it pass again."""
    clock = Clock()
    liveness = Liveness(60, clock)
    liveness.progressed("interactions")
    liveness.lagging({"interactions": 1200, "resolved": 0})
    clock.now += 59
    assert liveness.check().ok
    clock.now += 2
    failed = liveness.check()
    assert not failed.ok
    assert "interactions" in failed.detail
    assert "1200 records wait" in failed.detail
    liveness.progressed("interactions")
    assert liveness.check().ok


def test_an_idle_worker_stays_alive() -> None:
    """Nothing consumed for an hour but nothing waits either: alive."""
    clock = Clock()
    liveness = Liveness(60, clock)
    clock.now += 3600
    liveness.lagging({"interactions": 0})
    assert liveness.check().ok


def test_new_records_after_a_quiet_hour_get_a_full_stall_period() -> None:
    """A measured lag of 0 counts as progress, so the first lag after a quiet spell does not
    fail liveness at once."""
    clock = Clock()
    liveness = Liveness(60, clock)
    liveness.progressed("interactions")
    clock.now += 3600
    liveness.lagging({"interactions": 0})
    clock.now += 10
    liveness.lagging({"interactions": 40})
    assert liveness.check().ok
    clock.now += 61
    assert not liveness.check().ok


def test_a_rebalance_restarts_the_stall_period() -> None:
    """Partitions assigned anew: every topic has a full period to move before it counts as stuck."""
    clock = Clock()
    liveness = Liveness(60, clock)
    liveness.lagging({"resolved": 5})
    clock.now += 100
    assert not liveness.check().ok
    liveness.restarted()
    assert liveness.check().ok


async def test_readiness_reports_each_check_and_bounds_each_one() -> None:
    """A hanging check fails after the timeout, a refused one with its reason; the others pass."""

    async def assigned() -> str:
        return "8 partitions assigned"

    async def hangs() -> str:
        await asyncio.Event().wait()
        return "never"

    async def refused() -> str:
        raise NotReady("no partitions assigned (yet)")

    results = {r.name: r for r in await Readiness(
        {"partitions": assigned, "kafka": hangs, "redis": refused}, timeout=0.05).check()}
    assert results["partitions"].ok
    assert not results["kafka"].ok
    assert "no answer within 0.05 s" in results["kafka"].detail
    assert results["redis"].detail == "no partitions assigned (yet)"


def test_a_wrong_redis_password_is_reported_as_such() -> None:
    """Authentication failures name REDIS_URL as the place to look; other errors keep their type."""
    assert "credentials of REDIS_URL" in describe_error(
        AuthenticationError("invalid username-password pair or user is disabled."))
    assert describe_error(RedisConnectionError("Error 111 connecting to 127.0.0.1:6379.")) == (
        "ConnectionError: Error 111 connecting to 127.0.0.1:6379.")
