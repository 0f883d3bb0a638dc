"""/healthz and /readyz of a real worker when Redis hangs, and readiness without Kafka."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from journey_stitcher.ops.worker import WorkerOps
from journey_stitcher.settings import Settings
from tests.integration.harness import Deployment
from tests.integration.ops_support import WebWorker, free_port, redis_server, until
from tests.integration.test_worker_pipeline import traffic

pytestmark = pytest.mark.integration


async def test_a_hung_redis_fails_liveness_and_readiness_until_it_answers(
    endpoints: tuple[str, str], tmp_path: Path
) -> None:
    """With its Redis frozen and interactions waiting, the worker stops completing batches:
    /readyz fails on Redis within the probe timeout and /healthz once nothing moved for the
    stall period; once Redis answers again, the batch completes and both pass."""
    with redis_server(tmp_path) as redis:
        deployment = Deployment(endpoints[0], redis.url())
        worker = WebWorker(deployment, tmp_path / "worker.log",
                           JOURNEY_STITCHER_STALL_SECONDS="2",
                           JOURNEY_STITCHER_LAG_INTERVAL_SECONDS="0.3")
        try:
            await until(lambda: _status(worker, "/readyz", 200), 60, "the worker is ready")
            assert (await worker.get("/healthz"))[0] == 200
            redis.freeze()
            await deployment.publish(traffic(events=40, customers=10, seed=41))

            stalled = await until(lambda: _status(worker, "/healthz", 503), 30, "/healthz fails")
            assert "no batch of" in stalled
            assert "records wait" in stalled
            unready = orjson.loads(await until(lambda: _status(worker, "/readyz", 503), 30,
                                               "/readyz fails"))
            assert unready["checks"]["redis"] == {"ok": False, "detail": "no answer within 2 s"}
            assert unready["checks"]["kafka"]["ok"]

            redis.thaw()
            await until(lambda: _status(worker, "/healthz", 200), 30, "/healthz passes again")
            await until(lambda: _status(worker, "/readyz", 200), 30, "/readyz passes again")
        finally:
            redis.thaw()
            assert worker.stop() == 0, worker.tail()


async def test_without_kafka_the_worker_is_not_ready_and_says_why(
    endpoints: tuple[str, str]
) -> None:
    """Pointed at a port where no broker listens (the shared broker is left alone), readiness
    reports Kafka unreachable and no partitions, while Redis answers."""
    unreachable = f"127.0.0.1:{free_port()}"
    settings = Settings().model_copy(update={"kafka_bootstrap_servers": unreachable,
                                             "redis_url": SecretStr(endpoints[1])})
    ops = WorkerOps(settings)
    try:
        results = {r.name: r for r in await ops.readiness.check()}
    finally:
        await ops.redis().aclose()
    assert not results["kafka"].ok
    assert unreachable in results["kafka"].detail
    assert not results["partitions"].ok
    assert results["redis"].ok


def test_a_worker_started_without_kafka_exits_naming_the_address(
    endpoints: tuple[str, str], tmp_path: Path
) -> None:
    """A worker process whose bootstrap address has no broker exits 1 with one line naming the
    address and the settings to check, not a traceback."""
    unreachable = f"127.0.0.1:{free_port()}"
    deployment = Deployment(unreachable, endpoints[1])
    result = subprocess.run([sys.executable, "-m", "journey_stitcher", "worker"],
                            env=deployment.env(), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert f"Error: cannot reach Kafka at {unreachable}" in result.stderr
    assert "Traceback" not in result.stderr


async def _status(worker: WebWorker, path: str, wanted: int) -> str | None:
    status, body = await worker.get(path)
    return body if status == wanted else None
