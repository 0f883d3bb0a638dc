"""A running worker's /metrics, scraped before and after a few hundred events."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Deployment, replay_outputs, replayed
from tests.integration.ops_support import WebWorker, total, until
from tests.integration.test_worker_pipeline import traffic
from tests.unit.ops.promtool import check_metrics

pytestmark = pytest.mark.integration


async def test_metrics_follow_the_traffic(endpoints: tuple[str, str], tmp_path: Path) -> None:
    """Publishing 300 interactions moves events_in by 300 on both input topics, the outputs,
    handoffs and merges by what replay emits for them, end-to-end by one per placed
    interaction, dropped identifiers by what replay counts; the lag of every owned partition
    returns to 0; promtool accepts the page."""
    deployment = Deployment(*endpoints, partitions=2)
    lines = traffic(events=300, customers=40, seed=31)
    at = orjson.loads(lines[-1])["occurred_at"]
    lines += [  # a placeholder beside a real cookie, and an interaction of placeholders only
        _interaction("m-blocked-1", at, [("email", "undefined"), ("cookie_id", "ck-m-1")]),
        _interaction("m-blocked-2", at, [("phone", "0000000000"), ("cookie_id", "null")]),
    ]
    resolvable = len(lines) - 1  # the second one goes to the DLQ as no_identity
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
            done = (total(now, "journey_stitcher_events_in_total", topic=resolved) == resolvable
                    and len(lag) == 4 and not any(lag))
            return now if done else None

        after = await until(caught_up, 60, "the worker consumed everything and committed")
        status, page = await worker.get("/metrics")
    finally:
        assert worker.stop() == 0, worker.tail()

    assert status == 200
    check_metrics(page.encode())
    for topic, consumed in ((interactions, len(lines)), (resolved, resolvable)):
        assert total(after, "journey_stitcher_events_in_total", topic=topic) - total(
            before, "journey_stitcher_events_in_total", topic=topic) == consumed
    assert total(after, "journey_stitcher_dlq_total", reason="no_identity") == 1
    assert total(after, "journey_stitcher_events_out_total",
                 topic=deployment.topic("handoffs")) == types.count("journey.handoff")
    assert total(after, "journey_stitcher_handoffs_total") == types.count("journey.handoff") > 0
    assert total(after, "journey_stitcher_merges_total") == types.count("identity.merged")
    dropped = replayed(lines).dropped_identifiers
    assert total(after, "journey_stitcher_identifiers_dropped_total") == dropped >= 3
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


def _interaction(event_id: str, at: str, identifiers: list[tuple[str, str]]) -> bytes:
    return orjson.dumps({
        "event_id": event_id, "occurred_at": at, "channel": "web", "touchpoint": "inform",
        "identifiers": [{"type": kind, "value": value} for kind, value in identifiers],
    })


async def _ready(worker: WebWorker) -> bool:
    status, _ = await worker.get("/readyz")
    return status == 200
