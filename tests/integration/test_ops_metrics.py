"""A running worker's /metrics, scraped before and after a few hundred events."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harness import Deployment, replay_outputs
from tests.integration.ops_support import WebWorker, total, until
from tests.integration.test_worker_pipeline import traffic
from tests.unit.ops.promtool import check_metrics

pytestmark = pytest.mark.integration


async def test_metrics_follow_the_traffic(endpoints: tuple[str, str], tmp_path: Path) -> None:
    """Publishing 300 interactions moves events_in by 300 on both input topics, the outputs,
    handoffs and merges by what replay emits for them, end-to-end by one per placed
    interaction; the lag of every owned partition returns to 0; promtool accepts the page."""
    deployment = Deployment(*endpoints, partitions=2)
    lines = traffic(events=300, customers=40, seed=31)
    expected = replay_outputs(lines)
    types = [e["type"] for e in expected]
    worker = WebWorker(deployment, tmp_path / "worker.log",
                       JOURNEY_STITCHER_LAG_INTERVAL_SECONDS="0.3")
    try:
        await until(lambda: _ready(worker), 60, "the worker is ready")
        before = await worker.metrics()
        interactions, resolved = deployment.topic("interactions"), deployment.topic("resolved")
        assert total(before, "journey_stitcher_events_in_total", topic=interactions) == 0

        await deployment.publish(lines)

        async def caught_up() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
            now = await worker.metrics()
            lag = [v for (name, _), v in now.items()
                   if name == "journey_stitcher_consumer_lag_messages"]
            done = (total(now, "journey_stitcher_events_in_total", topic=resolved) == len(lines)
                    and len(lag) == 4 and not any(lag))
            return now if done else None

        after = await until(caught_up, 60, "the worker consumed everything and committed")
        status, page = await worker.get("/metrics")
    finally:
        assert worker.stop() == 0, worker.tail()

    assert status == 200
    check_metrics(page.encode())
    for topic in (interactions, resolved):
        assert total(after, "journey_stitcher_events_in_total", topic=topic) - total(
            before, "journey_stitcher_events_in_total", topic=topic) == len(lines)
    assert total(after, "journey_stitcher_events_out_total",
                 topic=deployment.topic("handoffs")) == types.count("journey.handoff")
    assert total(after, "journey_stitcher_handoffs_total") == types.count("journey.handoff") > 0
    assert total(after, "journey_stitcher_merges_total") == types.count("identity.merged")
    assert total(after, "journey_stitcher_end_to_end_seconds_count") == (
        types.count("journey.started") + types.count("journey.continued"))
    assert total(after, "journey_stitcher_consumer_lag_seconds") == 0
    assert total(after, "journey_stitcher_processing_seconds_count", stage="identity") >= 1
    assert total(after, "journey_stitcher_processing_seconds_count", stage="journeys") >= 1
    assert total(after, "journey_stitcher_redis_seconds_count", operation="exec") >= 2
    assert total(after, "journey_stitcher_redis_errors_total") == 0
    assert total(after, "journey_stitcher_rebalances_total") >= 1
    assert total(after, "journey_stitcher_open_journeys") > 0
    # the states written were kept decoded; lookups depend on how the traffic fell into batches
    assert 0 < total(after, "journey_stitcher_state_cache_bytes") <= 8 * 2**20
    assert {dict(labels)["result"] for (name, labels) in after
            if name == "journey_stitcher_state_cache_lookups_total"} == {"hit", "miss"}
    assert total(after, "journey_stitcher_ready") == 1


async def _ready(worker: WebWorker) -> bool:
    status, _ = await worker.get("/readyz")
    return status == 200
