"""Prometheus configuration and alert rules (deploy/prometheus), checked by promtool itself.

promtool is required: it comes from Debian's `prometheus` package
(`apt-get install -y --no-install-recommends prometheus`); without it these tests fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY
from tests.deploy.promql import allowed_series, metric_names

PROMETHEUS = DEPLOY / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERT_TESTS = PROMETHEUS / "alerts.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
README = DEPLOY / "README.md"
INSTALL = "apt-get install -y --no-install-recommends prometheus"

# What the alerts must watch (issue 5): the alert name and the metric it is about.
REQUIRED_ALERTS = {
    "JourneyStitcherConsumerLagGrowing": "journey_stitcher_consumer_lag_messages",
    "JourneyStitcherLagAboveSLO": "journey_stitcher_consumer_lag_seconds",
    "JourneyStitcherDLQRateHigh": "journey_stitcher_dlq_total",
    "JourneyStitcherWorkerNotReady": "journey_stitcher_ready",
    "JourneyStitcherRedisErrors": "journey_stitcher_redis_errors_total",
}


def _run(*arguments: str | Path) -> str:
    """promtool's output for `arguments`; the test fails (never skips) when promtool is missing."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(f"promtool not found on PATH: install it with `{INSTALL}` (Debian package "
                    "prometheus); the deploy tests need it to check the alert rules", pytrace=False)
    result = subprocess.run([promtool, *map(str, arguments)], capture_output=True, text=True,
                            timeout=60, check=False, cwd=PROMETHEUS)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(map(str, arguments))} failed:\n{output}"
    return output


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool_check() -> None:
    """`promtool check rules` accepts alerts.yml."""
    output = _run("check", "rules", ALERTS)
    assert f"SUCCESS: {len(_rules())} rules found" in output


def test_prometheus_config_passes_promtool_check() -> None:
    """`promtool check config` accepts prometheus.yml and the rule files it loads."""
    output = _run("check", "config", CONFIG)
    assert "is valid prometheus config file" in output


def test_alert_rules_unit_tests_pass() -> None:
    """`promtool test rules` passes alerts.test.yml."""
    output = _run("test", "rules", ALERT_TESTS)
    assert "SUCCESS" in output


def test_required_alerts_exist() -> None:
    """There are alerts for growing lag, lag above the SLO, DLQ rate, worker not ready and Redis errors."""
    rules = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    for name, metric in REQUIRED_ALERTS.items():
        assert name in rules, name
        assert metric in metric_names(rules[name]["expr"]), name


def test_alerts_use_only_exported_metrics() -> None:
    """Every rule expression selects only metrics the worker and the gateway export."""
    allowed = allowed_series()
    for rule in _rules():
        names = metric_names(rule["expr"])
        assert names, rule.get("alert")
        assert names <= set(allowed), (rule.get("alert"), names - set(allowed))


def test_alerts_are_labelled_and_documented() -> None:
    """Every alert has a severity, a summary, a description and a runbook section in deploy/README.md."""
    headings = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("#")}
    for rule in _rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        document, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert document == "deploy/README.md"
        assert anchor in headings, (rule["alert"], anchor)


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    """alerts.test.yml makes every alert fire once and stay silent at least once."""
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    assert tests["rule_files"] == [ALERTS.name]
    fired: set[str] = set()
    silent: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert alerts <= fired, alerts - fired
    assert alerts <= silent, alerts - silent


def test_prometheus_scrapes_worker_and_gateway() -> None:
    """prometheus.yml scrapes the worker's and the gateway's /metrics and loads alerts.yml."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert ALERTS.name in config["rule_files"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {job_name: {t for sc in job["static_configs"] for t in sc["targets"]}
               for job_name, job in jobs.items()}
    assert targets["journey-stitcher-worker"] == {"worker:6066"}
    assert targets["journey-stitcher-gateway"] == {"gateway:8080"}
    for name in ("journey-stitcher-worker", "journey-stitcher-gateway"):
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
