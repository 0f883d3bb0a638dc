"""The worker's Redis client, built from `REDIS_URL`, timing every round trip.

Authentication, TLS and the database all come from the URL (it is a secret, like a password):

    redis://[[USER]:PASSWORD@]HOST:PORT/DB       ACL user, or `:PASSWORD@` for `requirepass`
    rediss://...?ssl_ca_certs=/path/ca.pem       TLS, checked against that CA (default: system CAs)
    redis://...?socket_timeout=5                  any redis-py connection option

A round trip (a command, a pipeline, a transaction's EXEC) that Redis has not answered within
`ROUND_TRIP_SECONDS` fails with redis-py's `TimeoutError` and its connection is closed, like
redis-py's own `socket_timeout`, whose default (5 s) applies to each reply: it sets up and
cancels a timer per reply read, one per command of a pipeline, ~5 % of the worker's CPU in a
py-spy profile. One deadline per round trip gives the same protection with one timer per
batch. A `socket_timeout` in the URL is kept as given (per reply, as redis-py applies it) and
then no round-trip deadline is added.

Every call that is a round trip (a command, a WATCH or a read under WATCH, a MULTI/EXEC)
is observed as `journey_stitcher_redis_seconds{operation}`; those that fail for the
connection also count in `journey_stitcher_redis_errors_total`.
"""

from __future__ import annotations

import asyncio
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
ROUND_TRIP_SECONDS = 5.0


class RedisObserver(Protocol):
    """Where round trips are reported (`ops.metrics.WorkerMetrics`)."""

    def redis_call(self, operation: str, seconds: float, *, failed: bool = False) -> None: ...


def connect_redis(settings: Settings, observer: RedisObserver | None = None) -> TimedRedis:
    """The client of `REDIS_URL` (connections are made on first use, not here)."""
    # Options in the URL take precedence over these keyword arguments (redis-py's from_url).
    client = cast(TimedRedis, TimedRedis.from_url(settings.redis_url.get_secret_value(),
                                                  socket_timeout=None))
    client.observer = observer
    if client.connection_pool.connection_kwargs.get("socket_timeout") is None:
        client.round_trip_seconds = ROUND_TRIP_SECONDS
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
    round_trip_seconds: float | None = None  # None: only redis-py's own timeouts

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        call = super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        return await _timed(self.observer, _name(args[0]), call, self.round_trip_seconds)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = TimedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.observer = self.observer
        pipe.round_trip_seconds = self.round_trip_seconds
        return pipe


class TimedPipeline(Pipeline):
    """Times WATCH and the reads under it (immediate) and the final EXEC (or pipeline)."""

    observer: RedisObserver | None = None
    round_trip_seconds: float | None = None

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        call = super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]
        return await _timed(self.observer, _name(args[0]), call, self.round_trip_seconds)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack and not self.watching:
            return []
        name = "exec" if self.is_transaction or self.explicit_transaction else "pipeline"
        result: list[Any] = await _timed(self.observer, name, super().execute(raise_on_error),
                                         self.round_trip_seconds)
        return result


async def _timed(observer: RedisObserver | None, operation: str, call: Any,
                 limit: float | None) -> Any:
    started = time.perf_counter()
    try:
        result = await (call if limit is None else _within(limit, operation, call))
    except Exception as error:
        if observer is None:
            raise
        observer.redis_call(operation, time.perf_counter() - started, failed=_failed(error))
        raise
    if observer is not None:
        observer.redis_call(operation, time.perf_counter() - started)
    return result


async def _within(limit: float, operation: str, call: Any) -> Any:
    """`call`, cancelled after `limit` seconds: redis-py closes a connection whose read or
    write is cancelled, so no late reply can be taken for the next command's."""
    try:
        async with asyncio.timeout(limit):
            return await call
    except TimeoutError:
        raise RedisTimeoutError(f"Redis did not answer {operation} within {limit:g} s") from None
