"""The metrics: the names deploy/ relies on, what the worker counts, and a page promtool accepts."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from journey_stitcher.config import load_config
from journey_stitcher.identity.model import CloudEvent
from journey_stitcher.journeys.model import CustomerJourneys, Journey
from journey_stitcher.ops.metrics import (
    LABEL_VALUE_LIMIT,
    GatewayMetrics,
    LagSample,
    WorkerMetrics,
    exported_names,
)
from journey_stitcher.outputs import cloudevent
from journey_stitcher.replay import replay
from journey_stitcher.stitcher import Stitcher
from journey_stitcher.storage.codec import encode_customer
from journey_stitcher.storage.redis_state import DecodedStates
from journey_stitcher.worker.records import OutgoingRecord, dead_letter
from tests.deploy.promql import EXPORTED_METRICS, HISTOGRAMS
from tests.unit.ops.promtool import check_metrics

NOW = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def output(event_type: str, **data: Any) -> CloudEvent:
    return cloudevent(source="journey-stitcher", event_type=event_type, event_id=f"id-{event_type}",
                      subject="cus_giulia", time="2026-03-02T09:14:00Z", data=data)


def placed(occurred_at: str) -> CloudEvent:
    return output("journey.continued", occurred_at=occurred_at, channel="web")


def handoff(from_channel: str, to_channel: str, kind: str = "channel_switch") -> CloudEvent:
    return output("journey.handoff", kind=kind, occurred_at="2026-03-02T09:14:00Z",
                  **{"from": {"channel": from_channel}, "to": {"channel": to_channel}})


def value(metrics: WorkerMetrics | GatewayMetrics, name: str, **labels: str) -> float:
    sample = metrics.registry.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def test_the_processes_export_exactly_what_deploy_is_written_against() -> None:
    """Worker and gateway together export the metric names of the alerts and the dashboard,
    with the histograms as histograms."""
    metrics = WorkerMetrics()
    metrics.watch_state_cache(DecodedStates(budget=1024))  # as the worker does
    worker, gateway = metrics.registry, GatewayMetrics().registry
    assert exported_names(worker) | exported_names(gateway) == EXPORTED_METRICS
    histograms = {m.name for r in (worker, gateway) for m in r.collect() if m.type == "histogram"}
    assert histograms == HISTOGRAMS
    assert "journey_stitcher_ready" not in exported_names(gateway), "absent() must see workers only"


def test_identity_and_journey_outputs_are_counted_by_kind() -> None:
    """A merge, a refused link and a web→courier handoff show in their counters, labelled by
    reason and channel pair; placements feed the end-to-end histogram."""
    metrics = WorkerMetrics(clock=lambda: NOW.timestamp())
    metrics.produced([
        output("identity.merged", survivor_id="cus_a", merged_id="cus_b"),
        output("identity.conflict", reason="unique_conflict"),
        handoff("web", "courier"),
        handoff("web", "web", kind="device_switch"),
        placed("2026-03-02T09:14:00Z"),
        placed("2026-03-02T09:15:00.250Z"),  # clocks disagree: never negative
        output("journey.completed", occurred_at="2026-03-02T09:14:00Z"),
    ])
    assert value(metrics, "journey_stitcher_merges_total") == 1
    assert value(metrics, "journey_stitcher_conflicts_total", reason="unique_conflict") == 1
    assert value(metrics, "journey_stitcher_handoffs_total", from_channel="web",
                 to_channel="courier", kind="channel_switch") == 1
    assert value(metrics, "journey_stitcher_handoffs_total", from_channel="web",
                 to_channel="web", kind="device_switch") == 1
    assert value(metrics, "journey_stitcher_end_to_end_seconds_count") == 2
    assert value(metrics, "journey_stitcher_end_to_end_seconds_sum") == pytest.approx(60.0)


def test_every_placed_interaction_of_a_replay_is_timed_once() -> None:
    """Over the core's outputs for real traffic, the end-to-end count equals the interactions
    placed in journeys and the counters equal the outputs of each type."""
    from journey_stitcher.generator import GeneratorConfig, generate_line_bytes

    lines = list(generate_line_bytes(GeneratorConfig(events=600, customers=60, seed=7)))
    out = io.BytesIO()
    replay(Stitcher(load_config(None), b"pepper"), lines, out, None)
    events = [orjson.loads(line) for line in out.getvalue().splitlines()]
    metrics = WorkerMetrics()
    metrics.produced(events)
    types = [e["type"] for e in events]
    assert value(metrics, "journey_stitcher_end_to_end_seconds_count") == (
        types.count("journey.started") + types.count("journey.continued"))
    assert value(metrics, "journey_stitcher_merges_total") == types.count("identity.merged")
    handoffs = sum(s.value for m in metrics.registry.collect() for s in m.samples
                   if s.name == "journey_stitcher_handoffs_total")
    assert handoffs == types.count("journey.handoff") > 0


def test_sent_records_count_per_topic_and_dead_letters_by_reason() -> None:
    """What Kafka acknowledged counts per topic; dead letters also by their error.reason."""
    metrics = WorkerMetrics()
    records = [
        OutgoingRecord("journeys", b"cus_giulia", b"{}"),
        OutgoingRecord("journeys", b"cus_marco", b"{}"),
        OutgoingRecord("handoffs", b"cus_giulia", b"{}"),
        dead_letter("interactions.dlq", b"{not json", None, "invalid_json", "line 1",
                    "interactions", 0, 17),
    ]
    metrics.sent(records)
    assert value(metrics, "journey_stitcher_events_out_total", topic="journeys") == 2
    assert value(metrics, "journey_stitcher_events_out_total", topic="handoffs") == 1
    assert value(metrics, "journey_stitcher_events_out_total", topic="interactions.dlq") == 1
    assert value(metrics, "journey_stitcher_dlq_total", reason="invalid_json") == 1


def test_a_label_never_takes_unbounded_values() -> None:
    """Past the limit of distinct values, new ones are reported as `other`."""
    metrics = WorkerMetrics()
    for n in range(LABEL_VALUE_LIMIT + 5):
        metrics.consumed(f"topic-{n}", 1)
    assert value(metrics, "journey_stitcher_events_in_total", topic="other") == 5
    assert value(metrics, "journey_stitcher_events_in_total", topic="topic-0") == 1


def test_lag_gauges_show_only_the_partitions_owned_now() -> None:
    """After a rebalance took partition 1 away, its lag series disappear."""
    metrics = WorkerMetrics()
    metrics.lag([LagSample("interactions", 0, 40, 2.5), LagSample("interactions", 1, 7, 0.5)])
    metrics.lag([LagSample("interactions", 0, 0, 0.0)])
    assert value(metrics, "journey_stitcher_consumer_lag_messages", topic="interactions",
                 partition="0") == 0
    assert metrics.registry.get_sample_value("journey_stitcher_consumer_lag_messages",
                                             {"topic": "interactions", "partition": "1"}) is None


def test_the_state_cache_is_read_when_scraped() -> None:
    """Size and lookups are the cache's own figures at the time of the scrape."""
    metrics = WorkerMetrics()
    states = DecodedStates(budget=1 << 20)
    metrics.watch_state_cache(states)
    assert value(metrics, "journey_stitcher_state_cache_bytes") == 0
    raw = encode_customer(CustomerJourneys("cus_1", [Journey("jrn_1", "purchase", "open")]))
    states.decode("cus_1", raw)
    states.decode("cus_1", raw)
    states.decode("cus_1", raw)
    assert value(metrics, "journey_stitcher_state_cache_bytes") == len(raw) + DecodedStates.ENTRY_COST
    assert value(metrics, "journey_stitcher_state_cache_lookups_total", result="miss") == 1
    assert value(metrics, "journey_stitcher_state_cache_lookups_total", result="hit") == 2


def test_promtool_accepts_both_pages_fully_populated() -> None:
    """promtool check metrics finds nothing to complain about in either process's page."""
    worker = WorkerMetrics(clock=lambda: NOW.timestamp())
    worker.consumed("interactions", 500)
    worker.batch("identity", 0.042)
    worker.sent([dead_letter("interactions.dlq", b"[]", None, "schema_violation", "x",
                             "interactions", 0, 1)])
    worker.produced([handoff("sms", "voice"), placed("2026-03-02T09:14:00Z"),
                     output("identity.conflict", reason="merge_limit")])
    worker.redis_call("exec", 0.0021)
    worker.redis_call("mget", 0.5, failed=True)
    worker.lag([LagSample("interactions", 3, 12, math.nan)])
    worker.rebalanced()
    worker.set_ready(True)
    worker.set_open_journeys(118)
    worker.watch_state_cache(DecodedStates(budget=1024))
    gateway = GatewayMetrics()
    gateway.answered("shopify", 202)
    gateway.answered("unknown", 404)
    gateway.published("shopify", 3)
    check_metrics(worker.render())
    check_metrics(gateway.render())
