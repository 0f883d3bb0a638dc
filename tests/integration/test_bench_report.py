"""`make bench` (journey_stitcher.bench.pipeline) on a small input: a complete report, never its speed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from journey_stitcher.bench import pipeline

pytestmark = pytest.mark.integration

SECTIONS = ("config", "input", "throughput", "latency", "bare_latency", "memory", "scale_out",
            "services_cpu", "targets")
RUN_KEYS = ("events", "seconds", "events_per_s", "events_per_s_to_last_output", "journey_outputs",
            "peak_rss_bytes")


def _positive(section: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert isinstance(section[key], int | float), key
        assert section[key] > 0, (key, section[key])


@pytest.mark.timeout(120)
def test_small_bench_writes_a_complete_report(endpoints: tuple[str, str], tmp_path: Path) -> None:
    """A 2,000-event run prints and writes a report with every section, figure and target."""
    kafka, redis_url = endpoints
    report_path = tmp_path / "report.json"
    report = pipeline.main([
        "--events", "2000", "--customers", "500", "--naive-events", "400",
        "--latency-seconds", "3", "--latency-settle", "10", "--timeout", "60",
        "--cache", str(tmp_path / "cache"), "--logs", str(tmp_path / "logs"),
        "--report", str(report_path), "--bootstrap", kafka, "--redis-url", redis_url,
    ])

    assert orjson.loads(report_path.read_bytes()) == orjson.loads(orjson.dumps(report))
    assert all(section in report for section in SECTIONS)
    assert report["input"]["published"] == 2000
    throughput = report["throughput"]
    for variant in ("stitcher", "bare", "naive", "stitcher_on_naive_input"):
        _positive(throughput[variant], *RUN_KEYS)
    assert throughput["naive"]["events"] == 400
    _positive(throughput, "stitcher_over_bare", "stitcher_over_naive")
    _positive(report["latency"], "target_rate", "achieved_rate", "published", "expected_outputs",
              "matched", "p50_ms", "p95_ms", "p99_ms", "identity_stage_p50_ms")
    assert report["latency"]["missing"] >= 0
    # the bare pass-through at the same pace: every interaction has its copy timed
    floor = report["bare_latency"]
    _positive(floor, "published", "matched", "p50_ms", "p99_ms")
    assert floor["target_rate"] == report["latency"]["target_rate"]
    assert floor["matched"] == floor["expected_outputs"] == floor["published"]
    memory = report["memory"]
    _positive(memory, "customers", "profiles", "redis_sampled_bytes_per_customer",
              "worker_peak_rss_bytes")
    assert {"customer_journeys", "customer_outputs", "profile", "identifier_owner",
            "event_records"} <= set(memory["keys"])
    assert all(kind["mean_memory_usage"] > 0 for kind in memory["keys"].values())
    _positive(report["scale_out"], "one_worker_events_per_s", "two_workers_events_per_s", "ratio")
    assert report["scale_out"]["two_workers"]["processes"] == 2
    assert {"kafka", "redis", "worker0"} <= set(report["services_cpu"])
    assert [row["name"] for row in report["targets"]] == [
        "stitcher / bare", "stitcher / naive", "p99 ms at half load", "Redis bytes / customer",
        "worker peak RSS MB", "two workers / one"]
    assert all(isinstance(row["met"], bool) for row in report["targets"])
