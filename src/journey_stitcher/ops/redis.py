"""The worker's Redis client, built from `REDIS_URL`, timing every round trip.

Authentication, TLS and the database all come from the URL (it is a secret, like a password):

    redis://[[USER]:PASSWORD@]HOST:PORT/DB       ACL user, or `:PASSWORD@` for `requirepass`
    rediss://...?ssl_ca_certs=/path/ca.pem       TLS, checked against that CA (default: system CAs)
    redis://...?socket_timeout=5                  any redis-py connection option

Every call that is a round trip (a command, a WATCH or a read under WATCH, a MULTI/EXEC)
is observed as `journey_stitcher_redis_seconds{operation}`; those that fail for the
connection also count in `journey_stitcher_redis_errors_total`.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from journey_stitcher.settings import Settings

__all__ = ["RedisObserver", "TimedRedis", "connect_redis"]

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisObserver(Protocol):
    """Where round trips are reported (`ops.metrics.WorkerMetrics`)."""

    def redis_call(self, operation: str, seconds: float, *, failed: bool = False) -> None: ...


def connect_redis(settings: Settings, observer: RedisObserver | None = None) -> TimedRedis:
    """The client of `REDIS_URL` (connections are made on first use, not here)."""
    client = cast(TimedRedis, TimedRedis.from_url(settings.redis_url.get_secret_value()))
    client.observer = observer
    return client


def _failed(error: BaseException) -> bool:
    """A connection failure; redis-py turns one met under WATCH into a WatchError."""
    if isinstance(error, WatchError):
        return isinstance(error.__context__, CONNECTION_ERRORS)
    return isinstance(error, CONNECTION_ERRORS)


def _name(command: Any) -> str:
    name = command.decode() if isinstance(command, bytes) else str(command)
    return name.lower()


class TimedRedis(Redis):
    """A `redis.asyncio.Redis` whose commands and pipelines report their round trips."""

    observer: RedisObserver | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        call = super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        return await _timed(self.observer, _name(args[0]), call)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = TimedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.observer = self.observer
        return pipe


class TimedPipeline(Pipeline):
    """Times WATCH and the reads under it (immediate) and the final EXEC (or pipeline)."""

    observer: RedisObserver | None = None

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        call = super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]
        return await _timed(self.observer, _name(args[0]), call)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack and not self.watching:
            return []
        name = "exec" if self.is_transaction or self.explicit_transaction else "pipeline"
        result: list[Any] = await _timed(self.observer, name, super().execute(raise_on_error))
        return result


async def _timed(observer: RedisObserver | None, operation: str, call: Any) -> Any:
    if observer is None:
        return await call
    started = time.perf_counter()
    try:
        result = await call
    except Exception as error:
        observer.redis_call(operation, time.perf_counter() - started, failed=_failed(error))
        raise
    observer.redis_call(operation, time.perf_counter() - started)
    return result
