"""`make bench`'s report when only some phases ran (`--phases`): targets and table skip the rest."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from journey_stitcher.bench import pipeline
from journey_stitcher.bench.pipeline import Variant, pace, parse, steady_rate, table, targets, thinned


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


def test_the_steady_pace_leaves_out_the_start_and_the_tail() -> None:
    # 1,000 events: a slow start (work before the first output) and a slow tail
    samples = [(0.0, 0), (1.0, 50), (2.0, 100), (3.0, 300), (4.0, 500), (5.0, 700), (6.0, 900),
               (9.0, 950), (12.0, 1000)]
    assert steady_rate(samples, 1000) == 200.0  # 100 → 900 in 4 s
    assert steady_rate(samples[:4], 1000) is None  # never reached 90 %
    assert steady_rate([(0.0, 0), (3.0, 1000)], 1000) is None  # one commit: no window
    run = {"events": 1000, "events_per_s": 83.3, "steady_events_per_s": 200.0}
    assert pace(run) == 200.0
    assert pace({**run, "steady_events_per_s": None}) == 83.3


def test_progress_is_thinned_to_one_sample_per_period_and_keeps_the_last() -> None:
    samples = [(float(t), t * 10) for t in range(26)]
    assert thinned(samples, 10.0) == [[0.0, 0], [10.0, 100], [20.0, 200], [25.0, 250]]
    assert thinned([], 10.0) == []


async def test_a_lag_probe_the_broker_does_not_answer_is_skipped_until_too_many_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One slow answer from a busy broker costs a sample, not the run; thirty in a row end it."""
    answers: list[BaseException | list[Any]] = [TimeoutError(), KafkaConnectionError(), []]
    variant = Variant("127.0.0.1:1", "redis://127.0.0.1:1", "input", 8)

    async def probe(*_args: object, **_kwargs: object) -> list[Any]:
        answer = answers.pop(0) if answers else TimeoutError()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(pipeline, "consumer_lag", probe)
    failing: list[BaseException] = []
    assert await pipeline._lag_sample(variant, ["input"], failing) is None
    assert await pipeline._lag_sample(variant, ["input"], failing) is None
    assert await pipeline._lag_sample(variant, ["input"], failing) == []
    assert failing == []  # an answer resets the count
    for _ in range(pipeline.LAG_PROBE_FAILURES - 1):
        assert await pipeline._lag_sample(variant, ["input"], failing) is None
    with pytest.raises(RuntimeError, match="did not answer 30 lag probes in a row"):
        await pipeline._lag_sample(variant, ["input"], failing)
