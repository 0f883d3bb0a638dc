"""The Grafana dashboard (deploy/grafana/dashboards/journey-stitcher.json) and its provisioning."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY
from tests.deploy.promql import EXPORTED_METRICS, allowed_series, metric_names

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "journey-stitcher.json"
PROVISIONING = DEPLOY / "grafana" / "provisioning"
_LABEL_VALUES = re.compile(r"label_values\(\s*(?:(?P<metric>[^,()]+?)\s*,\s*)?(?P<label>\w+)\s*\)")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    """The dashboard, parsed."""
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            match = _LABEL_VALUES.fullmatch(text.strip())
            yield f"variable {variable['name']!r}", match["metric"] if match and match["metric"] else text


def _panel_using(dashboard: dict[str, Any], metric: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [p for p in _panels(dashboard)
            if (kind is None or p["type"] == kind)
            and any(metric in metric_names(t["expr"]) for t in p.get("targets", []))]


def test_dashboard_is_valid_grafana_json(dashboard: dict[str, Any]) -> None:
    """The dashboard is JSON with a fixed uid, a schema version, unique panel ids and in-grid positions."""
    assert dashboard["uid"] == "journey-stitcher"
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    assert "id" not in dashboard or dashboard["id"] is None  # provisioned: no database id
    panels = list(_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["w"] > 0
        assert grid["h"] > 0
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel.get("description"), panel["title"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    """No two panels share a cell of the grid."""
    def cells(panel: dict[str, Any]) -> set[tuple[int, int]]:
        grid = panel["gridPos"]
        return {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}

    for first, second in itertools.combinations(_panels(dashboard), 2):
        assert not cells(first) & cells(second), (first["title"], second["title"])


def test_queries_use_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    """Every panel expression and variable query selects only metrics the worker and the gateway export."""
    allowed = set(allowed_series())
    queries = list(_queries(dashboard))
    assert queries
    for where, expr in queries:
        names = metric_names(expr)
        assert names, where
        assert names <= allowed, (where, names - allowed)


def test_every_exported_metric_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    """Each exported metric appears in at least one panel."""
    series = allowed_series()
    shown = {series[name] for _, expr in _queries(dashboard) for name in metric_names(expr)}
    assert shown == EXPORTED_METRICS, EXPORTED_METRICS - shown


def test_panels_use_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    """Panels and targets pick Prometheus through the `datasource` variable, so it imports anywhere."""
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert variable["type"] == "datasource"
    assert variable["query"] == "prometheus"
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        for holder in (panel, *panel["targets"]):
            assert holder["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_throughput_lag_latency_and_dlq_panels(dashboard: dict[str, Any]) -> None:
    """There are panels for throughput in/out, lag (messages, seconds), latency quantiles, DLQ by reason."""
    for metric in ("journey_stitcher_events_in_total", "journey_stitcher_events_out_total",
                   "journey_stitcher_consumer_lag_messages", "journey_stitcher_consumer_lag_seconds"):
        assert _panel_using(dashboard, metric, "timeseries"), metric
    histograms = ("journey_stitcher_processing_seconds_bucket", "journey_stitcher_end_to_end_seconds_bucket")
    for histogram in histograms:
        [panel] = _panel_using(dashboard, histogram, "timeseries")
        assert any("histogram_quantile(0.99" in t["expr"] for t in panel["targets"]), histogram
        assert panel["fieldConfig"]["defaults"]["unit"] == "s"
    [processing] = _panel_using(dashboard, "journey_stitcher_processing_seconds_bucket", "timeseries")
    assert all("stage" in t["expr"] for t in processing["targets"])
    dlq = _panel_using(dashboard, "journey_stitcher_dlq_total", "timeseries")
    assert any("by (reason)" in t["expr"] for p in dlq for t in p["targets"])
    lag = _panel_using(dashboard, "journey_stitcher_consumer_lag_messages", "timeseries")
    assert any("partition" in t["expr"] for p in lag for t in p["targets"])


def test_handoff_matrix_panel(dashboard: dict[str, Any]) -> None:
    """The handoff matrix tables handoffs over the range: from channel in rows, to channel in columns."""
    [matrix] = _panel_using(dashboard, "journey_stitcher_handoffs_total", "table")
    [target] = matrix["targets"]
    assert re.search(r"by \(from_channel, to_channel\)", target["expr"])
    assert "[$__range]" in target["expr"]
    assert target["instant"] is True
    assert target["format"] == "table"
    [transformation] = [t for t in matrix["transformations"] if t["id"] == "groupingToMatrix"]
    assert transformation["options"]["rowField"] == "from_channel"
    assert transformation["options"]["columnField"] == "to_channel"


def test_provisioning_files_are_valid() -> None:
    """The data source and dashboard provider files are Grafana provisioning documents (apiVersion 1)."""
    [datasource_file] = (PROVISIONING / "datasources").glob("*.yaml")
    datasources = yaml.safe_load(datasource_file.read_text(encoding="utf-8"))
    assert datasources["apiVersion"] == 1
    [datasource] = datasources["datasources"]
    assert {"name", "type", "access", "url", "uid"} <= set(datasource)
    [provider_file] = (PROVISIONING / "dashboards").glob("*.yaml")
    providers = yaml.safe_load(provider_file.read_text(encoding="utf-8"))
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
