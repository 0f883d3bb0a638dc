"""`make bench`'s report when only some phases ran (`--phases`): targets and table skip the rest."""

from __future__ import annotations

from typing import Any

from journey_stitcher.bench.pipeline import parse, table, targets


def _run(rate: float) -> dict[str, Any]:
    return {"events": 1000, "events_per_s": rate, "processes": 1}


def test_targets_cover_only_the_phases_that_ran() -> None:
    report: dict[str, Any] = {
        "config": {"events": 1000, "partitions": 8},
        "throughput": {"stitcher": _run(600.0), "bare": _run(1000.0), "naive": None,
                       "stitcher_on_naive_input": None, "stitcher_over_bare": 0.6,
                       "stitcher_over_naive": None},
        "latency": None,
    }
    rows = targets(report)
    assert [(r["name"], r["met"]) for r in rows] == [("stitcher / bare", True)]
    report["targets"] = rows
    text = table(report)
    assert "bare Faust events/s" in text
    assert "naive" not in text


def test_phases_default_to_all_and_parse_as_a_list() -> None:
    assert parse([]).phases == ["bare", "naive", "two", "stitcher"]
    assert parse(["--phases", "stitcher,bare"]).phases == ["stitcher", "bare"]
