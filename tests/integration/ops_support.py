"""For the operations tests: a private redis-server, a worker with its web server, a scraper."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Deployment, Worker

Sample = tuple[str, frozenset[tuple[str, str]]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A redis-server of the test's own on a free loopback port, data in `directory`."""

    def __init__(self, directory: Path, *arguments: str) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server not found (deploy/local/stack.sh installs it)"
        self.port = free_port()
        self._log = (directory / "redis.log").open("wb")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory), *arguments],
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    def url(self, password: str | None = None) -> str:
        credentials = f":{password}@" if password is not None else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    def wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                        timeout=0.5):
                return
            assert self.process.poll() is None, "redis-server exited"
            time.sleep(0.05)  # polling the port, with a deadline
        raise AssertionError(f"redis-server did not listen on {self.port} within {timeout}s")

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a hung Redis)."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.thaw()
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log.close()


@contextlib.contextmanager
def redis_server(directory: Path, *arguments: str) -> Iterator[RedisServer]:
    server = RedisServer(directory, *arguments)
    try:
        server.wait_listening()
        yield server
    finally:
        server.stop()


class WebWorker:
    """A worker process serving /metrics, /healthz and /readyz on a free port."""

    def __init__(self, deployment: Deployment, log: Path, **env: str) -> None:
        self.port = free_port()
        self.log = log
        self.worker = Worker(deployment, log, JOURNEY_STITCHER_WEB_ENABLED="true",
                             JOURNEY_STITCHER_WEB_HOST="127.0.0.1",
                             JOURNEY_STITCHER_WEB_PORT=str(self.port), **env)

    async def get(self, path: str) -> tuple[int, str]:
        """Status and body; a refused connection or a timeout is status 0."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
                    session.get(f"http://127.0.0.1:{self.port}{path}") as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            return 0, repr(error)

    async def metrics(self) -> dict[Sample, float]:
        status, page = await self.get("/metrics")
        assert status == 200, page
        return parse(page)

    def stop(self) -> int:
        return self.worker.stop()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def parse(page: str) -> dict[Sample, float]:
    """Every sample of a Prometheus text page: (name, labels) → value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(page) for s in family.samples}


def total(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """The sum of `name` over the series whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def until(condition: Callable[[], Awaitable[Any]], timeout: float, what: str,
                interval: float = 0.1) -> Any:
    """Poll `condition` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await condition()
        if last:
            return last
        await asyncio.sleep(interval)  # polling, with a deadline
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
