"""The container image (deploy/docker): the Dockerfile, parsed, and its health-check command, run.

No Docker engine is needed: the Dockerfile is parsed with `dockerfile-parse` and checked for the
properties the deployment relies on; the health-check script is run against a server on
127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import re
import shlex
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.conftest import BASE, DEPLOY, ROOT
from tests.deploy.kustomize import build, find

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"
HEALTHCHECK_SCRIPT = DEPLOY / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def instructions() -> list[dict[str, Any]]:
    """The Dockerfile's instructions (comments dropped)."""
    parser = DockerfileParser(path=str(DOCKERFILE))
    return [i for i in parser.structure if i["instruction"] != "COMMENT"]


@pytest.fixture(scope="module")
def stages(instructions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The instructions grouped by build stage (each list starts with its FROM)."""
    grouped: list[list[dict[str, Any]]] = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append(instruction)
    return grouped


def _values(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def _global_args(instructions: list[dict[str, Any]]) -> dict[str, str]:
    args = {}
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            break
        if instruction["instruction"] == "ARG":
            name, _, default = instruction["value"].partition("=")
            args[name] = default
    return args


def _environment(stage: list[dict[str, Any]]) -> dict[str, str]:
    environment: dict[str, str] = {}
    for value in _values(stage, "ENV"):
        for token in shlex.split(value):
            name, _, setting = token.partition("=")
            environment[name] = setting
    return environment


def _load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("journey_stitcher_healthcheck", HEALTHCHECK_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_is_multi_stage_on_python_slim(instructions: list[dict[str, Any]],
                                             stages: list[list[dict[str, Any]]]) -> None:
    """The image is built in several stages, every one from python:3.11-slim."""
    assert len(stages) >= 2
    args = _global_args(instructions)
    for stage in stages:
        image = stage[0]["value"].split()[0]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], image)
        assert image.startswith("python:3.11-slim"), image


def test_build_stage_makes_and_installs_the_project_wheel(stages: list[list[dict[str, Any]]]) -> None:
    """The build stage builds and installs the project's wheel; the runtime stage copies only the result."""
    build_stage, runtime = stages[0], stages[-1]
    name = build_stage[0]["value"].split()[-1]
    script = " ".join(_values(build_stage, "RUN"))
    assert "pip wheel" in script
    assert re.search(r"pip install \S*journey_stitcher-\*\.whl", script)
    copies = _values(runtime, "COPY")
    assert any(c.startswith(f"--from={name} ") for c in copies)
    sources = [token for c in copies if "--from=" not in c
               for token in c.split()[:-1] if not token.startswith("--")]
    assert all(not s.startswith("src") for s in sources), "the runtime stage must not copy the source tree"


def test_runtime_runs_as_a_non_root_user(stages: list[list[dict[str, Any]]]) -> None:
    """The final stage switches to a numeric non-root user, the one the Kubernetes manifests expect."""
    [user] = _values(stages[-1], "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "a numeric uid lets Kubernetes' runAsNonRoot verify it"
    assert int(uid) >= 1000
    assert not gid or int(gid) != 0
    for deployment in find(build(BASE), "Deployment"):
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)
    instructions = [i["instruction"] for i in stages[-1]]
    assert instructions.index("USER") > max(i for i, name in enumerate(instructions) if name == "RUN")


def test_runtime_has_a_healthcheck_on_the_worker(stages: list[list[dict[str, Any]]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The final stage has a HEALTHCHECK running the installed health-check command (/healthz on 6066)."""
    monkeypatch.delenv("JOURNEY_STITCHER_WEB_PORT", raising=False)
    [healthcheck] = _values(stages[-1], "HEALTHCHECK")
    assert "NONE" not in healthcheck.split()
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in healthcheck
    command = json.loads(healthcheck.split("CMD", 1)[1].strip())
    program = command[0]
    installed = [c.split()[-1] for c in _values(stages[-1], "COPY") if "healthcheck.py" in c]
    assert installed == [f"/usr/local/bin/{program}"]
    assert _load_healthcheck().default_url() == "http://127.0.0.1:6066/healthz"
    environment = _environment(stages[-1])
    # The python base image's PATH starts with /usr/local/bin; the image prepends its venv.
    assert environment["PATH"].endswith(":${PATH}") or "/usr/local/bin" in environment["PATH"]


def test_runtime_defaults_fit_a_container(stages: list[list[dict[str, Any]]]) -> None:
    """The image defaults to production, binds every interface, exposes 6066 and 8080 and runs the worker."""
    runtime = stages[-1]
    environment = _environment(runtime)
    assert environment["JOURNEY_STITCHER_ENVIRONMENT"] == "production"
    assert environment["JOURNEY_STITCHER_WEB_HOST"] == "0.0.0.0"
    assert environment["JOURNEY_STITCHER_WEB_PORT"] == "6066"
    assert environment["JOURNEY_STITCHER_GATEWAY_HOST"] == "0.0.0.0"
    assert environment["JOURNEY_STITCHER_PARTITIONS"] == "8"
    assert "JOURNEY_STITCHER_PEPPER" not in environment
    assert set(" ".join(_values(runtime, "EXPOSE")).split()) == {"6066", "8080"}
    assert json.loads(_values(runtime, "ENTRYPOINT")[0]) == ["journey-stitcher"]
    assert json.loads(_values(runtime, "CMD")[0]) == ["worker"]
    assert _values(runtime, "STOPSIGNAL") == ["SIGTERM"]


def test_build_context_files_exist_and_are_not_ignored(stages: list[list[dict[str, Any]]]) -> None:
    """Every file copied from the build context exists and is re-included by Dockerfile.dockerignore."""
    patterns = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for stage in stages:
        for copy in _values(stage, "COPY"):
            if "--from=" in copy:
                continue
            for source in [t for t in copy.split() if not t.startswith("--")][:-1]:
                assert (ROOT / source).exists() or source == "README.md", source
                assert source.rstrip("/") in included, source


# --- the health-check command ---------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/healthz": 200, "/readyz": 503}.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def _server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_healthcheck_command_reports_the_http_status(capsys: pytest.CaptureFixture[str]) -> None:
    """The health-check command exits 0 on a 2xx answer and 1 on an error status or no answer."""
    healthcheck = _load_healthcheck()
    with _server() as port:
        assert healthcheck.main(["healthcheck", f"http://127.0.0.1:{port}/healthz"]) == 0
        assert healthcheck.main(["healthcheck", f"http://127.0.0.1:{port}/readyz"]) == 1
        assert "HTTP 503" in capsys.readouterr().err
    assert healthcheck.main(["healthcheck", f"http://127.0.0.1:{_free_port()}/healthz"]) == 1
    assert healthcheck.main(["healthcheck", "ftp://example/"]) == 2


def test_healthcheck_default_url_follows_the_web_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an argument the command checks /healthz on JOURNEY_STITCHER_WEB_PORT."""
    monkeypatch.setenv("JOURNEY_STITCHER_WEB_PORT", "7077")
    assert _load_healthcheck().default_url() == "http://127.0.0.1:7077/healthz"


def test_readme_is_part_of_the_build_context() -> None:
    """pyproject.toml names the README the wheel build needs, and the Dockerfile copies it."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    readme = re.search(r'^readme\s*=\s*"([^"]+)"', pyproject, re.MULTILINE)
    assert readme is not None
    assert readme.group(1) in DOCKERFILE.read_text(encoding="utf-8")
    assert Path(readme.group(1)).name == "README.md"
