"""The stages' Redis client, built from REDIS_URL, against a Redis that requires a password."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.exceptions import AuthenticationError

from journey_stitcher.ops.health import Readiness, describe_error
from journey_stitcher.ops.metrics import WorkerMetrics
from journey_stitcher.ops.redis import connect_redis
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

