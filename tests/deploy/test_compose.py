"""The local compose stack (deploy/compose/compose.yaml), checked without a Docker engine.

The file is interpolated the way `docker compose` does (with an empty environment, so the
defaults apply) and validated against the Compose Specification schema vendored in
tests/deploy/schemas; then the wiring between services is asserted.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, SCHEMAS

COMPOSE = DEPLOY / "compose" / "compose.yaml"
_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def _interpolate(node: Any, environment: dict[str, str]) -> Any:
    """Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$."""
    if isinstance(node, dict):
        return {key: _interpolate(value, environment) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate(value, environment) for value in node]
    if not isinstance(node, str):
        return node

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = environment.get(name)
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return arg
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise AssertionError(f"compose requires ${name}: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, node)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The compose file as written (anchors and merge keys resolved by YAML)."""
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """The compose file as `docker compose` sees it with no variable set."""
    interpolated: dict[str, Any] = _interpolate(raw, {})
    return interpolated


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(((COMPOSE.parent / source).resolve(), target))
    return mounts


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    """The interpolated compose file validates against the Compose Specification JSON schema."""
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_compose_schema_catches_mistakes(compose: dict[str, Any]) -> None:
    """The schema rejects a misspelt service key (the validation is not vacuous)."""
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["healthcheck_"] = {}
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_stack_has_every_service(compose: dict[str, Any]) -> None:
    """The stack runs Kafka, Redis, the worker, the gateway, Prometheus and Grafana."""
    assert {"kafka", "redis", "worker", "gateway", "prometheus", "grafana"} <= set(compose["services"])


def test_kafka_runs_in_kraft_mode(compose: dict[str, Any]) -> None:
    """Kafka is the apache/kafka image as a combined KRaft broker and controller with a valid cluster id."""
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    environment = _environment(kafka)
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in environment)
    assert "CONTROLLER" in environment["KAFKA_CONTROLLER_LISTENER_NAMES"]
    cluster_id = environment["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16  # a base64 UUID
    assert "healthcheck" in kafka


def test_topics_are_created_with_the_workers_partitions(compose: dict[str, Any]) -> None:
    """A one-shot service creates the topics with the worker's partition count before the worker starts."""
    services = compose["services"]
    partitions = _environment(services["worker"])["JOURNEY_STITCHER_PARTITIONS"]
    script = " ".join(services["topics"]["command"])
    assert f"--partitions {partitions}" in script
    for topic in ("interactions", "journeys", "handoffs", "identities", "interactions.dlq"):
        assert re.search(rf"(^|\s){re.escape(topic)}(\s|;|$)", script), topic
    assert services["worker"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_redis_persists_with_an_append_only_file(compose: dict[str, Any]) -> None:
    """Redis runs with appendonly on and its data on a named volume."""
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") and not v.startswith((".", "/")) for v in redis["volumes"])


def test_worker_and_gateway_are_wired(compose: dict[str, Any]) -> None:
    """Worker and gateway run the Dockerfile's image, reach Kafka and Redis by name, use 6066 / 8080."""
    services = compose["services"]
    worker, gateway = services["worker"], services["gateway"]
    build = worker["build"]
    assert (COMPOSE.parent / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).is_file()
    assert gateway["image"] == worker["image"]
    assert worker["command"] == ["worker"]
    assert gateway["command"] == ["gateway"]
    for service in (worker, gateway):
        environment = _environment(service)
        assert environment["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] == "kafka"
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["JOURNEY_STITCHER_WEB_HOST"] == "0.0.0.0"
        config_path = environment["JOURNEY_STITCHER_CONFIG"]
        assert config_path in {target for source, target in _bind_mounts(service) if source.is_file()}
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert _environment(worker)["JOURNEY_STITCHER_WEB_PORT"] == "6066"
    assert _environment(gateway)["JOURNEY_STITCHER_GATEWAY_PORT"] == "8080"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "127.0.0.1:8080/healthz" in " ".join(gateway["healthcheck"]["test"])
    assert int(worker["stop_grace_period"].rstrip("s")) >= 30


def test_no_literal_pepper_or_credentials(raw: dict[str, Any]) -> None:
    """The pepper comes from the caller's environment, never from the file."""
    for name in ("worker", "gateway"):
        environment = _environment(raw["services"][name])
        assert re.fullmatch(r"\$\{JOURNEY_STITCHER_PEPPER(:?-)?\}", environment["JOURNEY_STITCHER_PEPPER"])
        assert "@" not in environment["REDIS_URL"]
        assert "JOURNEY_STITCHER_KAFKA_SASL_PASSWORD" not in environment


def test_every_bind_mount_exists(compose: dict[str, Any]) -> None:
    """Every file or directory the stack mounts from the repository exists."""
    mounts = [(name, source) for name, service in compose["services"].items()
              for source, _ in _bind_mounts(service)]
    assert mounts
    for name, source in mounts:
        assert source.exists(), f"{name}: {source}"


def test_prometheus_scrapes_the_services_of_the_stack(compose: dict[str, Any]) -> None:
    """Prometheus loads prometheus.yml and alerts.yml and scrapes worker:6066 and gateway:8080."""
    prometheus = compose["services"]["prometheus"]
    targets = {target: source for source, target in _bind_mounts(prometheus)}
    config_file = next(a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file="))
    config_source = targets[config_file]
    assert config_source == DEPLOY / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(config_source.read_text(encoding="utf-8"))
    for rule_file in config["rule_files"]:
        assert str(Path(config_file).parent / rule_file) in targets
    scraped = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {"worker:6066", "gateway:8080"} <= scraped
    assert {"worker", "gateway"} <= set(compose["services"])


def test_grafana_is_provisioned_with_the_dashboard(compose: dict[str, Any]) -> None:
    """Grafana mounts its provisioning files, and the dashboard provider's path holds the dashboard."""
    grafana = compose["services"]["grafana"]
    mounts = {target: source for source, target in _bind_mounts(grafana)}
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert mounts["/etc/grafana/provisioning/datasources"] == provisioning / "datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == provisioning / "dashboards"
    [provider_file] = (DEPLOY / "grafana" / "provisioning" / "dashboards").glob("*.yaml")
    [provider] = yaml.safe_load(provider_file.read_text(encoding="utf-8"))["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "journey-stitcher.json").is_file()
    [datasource] = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text(encoding="utf-8")
    )["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"].startswith("http://prometheus:")
    home = _environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent == Path(provider["options"]["path"])


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    """Every published port binds 127.0.0.1, so the development stack is not exposed."""
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"
