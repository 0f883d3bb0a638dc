"""Where the real Kafka broker and Redis server for tests live.

:func:`service_endpoints` resolves ``(kafka_bootstrap, redis_url)`` in this order:

1. the environment: ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL`` (``make test`` sets
   both from ``deploy/local/stack.sh up``);
2. testcontainers (a KRaft ``KafkaContainer`` and a ``RedisContainer``) when a Docker
   engine answers;
3. ``deploy/local/stack.sh up`` of this checkout (or of ``$JOURNEY_STITCHER_ROOT``),
   which installs and starts both services as local processes.

Nothing is ever skipped: when no option works a :class:`RuntimeError` says why.
Results of options 2 and 3 are cached for the life of the process; containers are
stopped at interpreter exit, the local stack is left running (``make down`` stops it).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

__all__ = ["find_repo_root", "service_endpoints"]

KAFKA_ENV = "KAFKA_BOOTSTRAP_SERVERS"
REDIS_ENV = "REDIS_URL"
ROOT_ENV = "JOURNEY_STITCHER_ROOT"
STACK_SCRIPT = Path("deploy") / "local" / "stack.sh"

# Generous: the first `stack.sh up` on a bare machine resolves the Kafka jars with
# Maven and may apt-get install redis-server.
STACK_UP_TIMEOUT_S = 900.0
DOCKER_PROBE_TIMEOUT_S = 5.0
CONTAINER_START_TIMEOUT_S = 120

_lock = threading.Lock()
_resolved: tuple[str, str] | None = None
_containers: list[Any] = []


def service_endpoints() -> tuple[str, str]:
    """Return ``(kafka_bootstrap_servers, redis_url)`` of running services.

    Raises:
        RuntimeError: neither the environment, Docker nor the local stack provide them.
    """
    kafka = os.environ.get(KAFKA_ENV, "").strip()
    redis_url = os.environ.get(REDIS_ENV, "").strip()
    if kafka and redis_url:
        return kafka, redis_url
    fallback_kafka, fallback_redis = _fallback_endpoints()
    return kafka or fallback_kafka, redis_url or fallback_redis


def _fallback_endpoints() -> tuple[str, str]:
    global _resolved
    with _lock:
        if _resolved is None:
            failures: list[str] = []
            if _docker_answers():
                try:
                    _resolved = _start_containers()
                except Exception as exc:  # fall through to the local stack
                    failures.append(f"testcontainers: {type(exc).__name__}: {exc}")
            else:
                failures.append("testcontainers: no Docker engine answers")
            if _resolved is None:
                try:
                    _resolved = _start_local_stack()
                except RuntimeError as exc:
                    failures.append(f"local stack: {exc}")
            if _resolved is None:
                raise RuntimeError(
                    "no Kafka/Redis for the tests: set "
                    f"{KAFKA_ENV} and {REDIS_ENV}, or start a Docker engine, or fix "
                    "deploy/local/stack.sh.\n" + "\n".join(failures)
                )
        return _resolved


# ---------------------------------------------------------------- docker --


def _docker_answers() -> bool:
    """Whether a Docker engine answers within a few seconds."""
    cli = shutil.which("docker")
    if cli is not None:
        try:
            done = subprocess.run(
                [cli, "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                text=True,
                timeout=DOCKER_PROBE_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0 and bool(done.stdout.strip())
    try:  # no CLI: ask the docker SDK (a testcontainers dependency)
        docker: Any = importlib.import_module("docker")
        client = docker.from_env(timeout=int(DOCKER_PROBE_TIMEOUT_S))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _start_containers() -> tuple[str, str]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.redis import RedisContainer

    kafka = KafkaContainer().with_kraft()
    redis = RedisContainer().with_command("redis-server --appendonly yes")
    atexit.register(_stop_containers)
    try:
        # Tracked before start(): a container whose wait times out still runs.
        _containers.append(kafka)
        kafka.start(timeout=CONTAINER_START_TIMEOUT_S)
        _containers.append(redis)
        redis.start()
        bootstrap = str(kafka.get_bootstrap_server())
        host = str(redis.get_container_host_ip())
        port = str(redis.get_exposed_port(6379))
    except BaseException:
        _stop_containers()
        atexit.unregister(_stop_containers)
        raise
    return bootstrap, f"redis://{host}:{port}/0"


def _stop_containers() -> None:
    while _containers:
        container = _containers.pop()
        with contextlib.suppress(Exception):  # best effort at exit; Ryuk reaps leftovers
            container.stop()


# ----------------------------------------------------------- local stack --


def find_repo_root() -> Path:
    """The checkout holding ``deploy/local/stack.sh``: ``$JOURNEY_STITCHER_ROOT`` or ours."""
    candidates: list[Path] = []
    env_root = os.environ.get(ROOT_ENV, "").strip()
    if env_root:
        candidates.append(Path(env_root).expanduser())
    here = Path(__file__).resolve()
    candidates.extend(here.parents)
    for candidate in candidates:
        if (candidate / STACK_SCRIPT).is_file():
            return candidate
    where = f"${ROOT_ENV}={env_root!r} nor " if env_root else ""
    raise RuntimeError(f"{STACK_SCRIPT} not found in {where}any parent of {here}")


def _start_local_stack() -> tuple[str, str]:
    root = find_repo_root()
    bash = shutil.which("bash")
    if bash is None:
        raise RuntimeError("bash is needed to run deploy/local/stack.sh")
    script = root / STACK_SCRIPT
    try:
        done = subprocess.run(
            [bash, str(script), "up"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=STACK_UP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{script} up took more than {exc.timeout:.0f} s") from exc
    except OSError as exc:
        raise RuntimeError(f"cannot run {script}: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        raise RuntimeError(f"{script} up failed (exit {done.returncode}):\n{tail}")
    values: dict[str, str] = {}
    for line in done.stdout.strip().splitlines()[-2:]:
        name, sep, value = line.strip().partition("=")
        if sep and name in (KAFKA_ENV, REDIS_ENV) and value:
            values[name] = value
    if set(values) != {KAFKA_ENV, REDIS_ENV}:
        raise RuntimeError(
            f"{script} up did not end with {KAFKA_ENV}=... and {REDIS_ENV}=... lines; "
            f"stdout was:\n{done.stdout[-2000:]}"
        )
    return values[KAFKA_ENV], values[REDIS_ENV]
