"""The stages' Redis client, built from REDIS_URL: a Redis that requires a password, one that hangs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.exceptions import AuthenticationError
from redis.exceptions import TimeoutError as RedisTimeoutError

from journey_stitcher.ops.health import Readiness, describe_error
from journey_stitcher.ops.metrics import WorkerMetrics
from journey_stitcher.ops.redis import ROUND_TRIP_SECONDS, connect_redis
from journey_stitcher.settings import Settings
from tests.integration.ops_support import redis_server

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery-staple"


def settings_for(url: str) -> Settings:
    return Settings().model_copy(update={"redis_url": SecretStr(url)})


async def test_the_right_password_works_and_a_wrong_one_fails_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With `--requirepass`, the URL's password lets the client in; a wrong one fails with an
    AuthenticationError that readiness reports as a REDIS_URL credentials problem, and no
    message, log line or settings repr shows either password."""
    caplog.set_level(logging.DEBUG)
    with redis_server(tmp_path, "--requirepass", PASSWORD) as redis:
        metrics = WorkerMetrics()
        good = connect_redis(settings_for(redis.url(PASSWORD)), metrics)
        try:
            assert await good.set("js:probe", "1")
            assert await good.get("js:probe") == b"1"
        finally:
            await good.aclose()

        wrong_settings = settings_for(redis.url("not-the-password"))
        wrong = connect_redis(wrong_settings, metrics)
        try:
            with pytest.raises(AuthenticationError) as refused:
                await wrong.ping()

            async def ping() -> str:
                return str(await wrong.ping())

            results = await Readiness({"redis": ping}).check()
        finally:
            await wrong.aclose()

        anonymous = connect_redis(settings_for(redis.url()))
        try:
            with pytest.raises(AuthenticationError) as unauthenticated:  # NOAUTH
                await anonymous.ping()
        finally:
            await anonymous.aclose()
        detail = describe_error(unauthenticated.value)

    assert "credentials of REDIS_URL" in describe_error(refused.value)
    assert not results[0].ok
    assert "credentials of REDIS_URL" in results[0].detail
    assert "credentials of REDIS_URL" in detail
    assert metrics.registry.get_sample_value("journey_stitcher_redis_seconds_count",
                                             {"operation": "set"}) == 1
    shown = " ".join([str(refused.value), results[0].detail, detail, caplog.text,
                      repr(wrong_settings), str(wrong_settings)])
    assert PASSWORD not in shown
    assert "not-the-password" not in shown


async def test_a_round_trip_redis_does_not_answer_in_time_fails_and_leaves_no_stale_reply(
    tmp_path: Path,
) -> None:
    """Without a `socket_timeout` in the URL, the client puts one deadline on each round trip
    (a command, a pipeline) instead of redis-py's per reply. A frozen Redis makes a command and
    a pipeline fail with redis-py's TimeoutError, counted as connection failures; once it
    answers again, the replies it then sends for the abandoned calls are never taken for
    later ones (their connections were closed)."""
    with redis_server(tmp_path) as redis:
        metrics = WorkerMetrics()
        client = connect_redis(settings_for(redis.url()), metrics)
        assert client.connection_pool.connection_kwargs["socket_timeout"] is None
        assert client.round_trip_seconds == ROUND_TRIP_SECONDS
        client.round_trip_seconds = 0.3
        try:
            await client.set("js:a", "A")
            await client.set("js:b", "B")
            redis.freeze()
            try:
                with pytest.raises(RedisTimeoutError, match=r"did not answer get within 0\.3 s"):
                    await client.get("js:a")
                pipe = client.pipeline(transaction=True)
                pipe.get("js:a").get("js:b")
                with pytest.raises(RedisTimeoutError, match=r"did not answer exec within 0\.3 s"):
                    await pipe.execute()
            finally:
                redis.thaw()
            assert metrics.registry.get_sample_value("journey_stitcher_redis_errors_total") == 2
            assert await client.get("js:b") == b"B"
            pipe = client.pipeline(transaction=True)
            pipe.get("js:b").get("js:a")
            assert await pipe.execute() == [b"B", b"A"]
        finally:
            await client.aclose()


async def test_a_socket_timeout_in_the_url_is_kept_per_reply(tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis:
        client = connect_redis(settings_for(redis.url() + "?socket_timeout=0.3"))
        try:
            assert client.connection_pool.connection_kwargs["socket_timeout"] == 0.3
            assert client.round_trip_seconds is None
            redis.freeze()
            try:
                with pytest.raises(RedisTimeoutError):
                    await client.get("js:a")
            finally:
                redis.thaw()
            assert await client.set("js:a", "A")
        finally:
            await client.aclose()
