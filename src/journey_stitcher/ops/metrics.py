"""Every metric journey-stitcher exports (SPEC §9), defined in this one module.

deploy/ (alert rules, the Grafana dashboard, deploy/README.md "Monitoring") is written against
these names; `tests/unit/ops/test_metrics.py` keeps the two in agreement. Each process has its
own registry: :class:`WorkerMetrics` in `journey-stitcher worker`, :class:`GatewayMetrics` in
`journey-stitcher gateway`, each served on that process's `/metrics`.

Label values come from bounded sets only: configured topic names, partition numbers, the
catalog's channels, the DLQ and conflict reasons of the code, Redis command names, the
registered adapters and HTTP status codes; never an id or a value from an event. As a last
guard, a label that meets more distinct values than :data:`LABEL_VALUE_LIMIT` reports the
excess as ``other``.

The stitching core does not know these metrics: the worker counts from what the stages
produce (:meth:`WorkerMetrics.produced`) and send (:meth:`WorkerMetrics.sent`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from journey_stitcher.identity.model import CloudEvent
from journey_stitcher.worker.records import OutgoingRecord

__all__ = [
    "CONTENT_TYPE",
    "LABEL_VALUE_LIMIT",
    "GatewayMetrics",
    "LagSample",
    "WorkerMetrics",
    "exported_names",
]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what `generate_latest` writes
LABEL_VALUE_LIMIT = 100
OTHER = "other"

# Seconds. A batch is 1–500 events and one Redis transaction; the freshness SLO is 60 s.
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
END_TO_END_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
                      21600.0, 86400.0)
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                 1.0, 2.5, 10.0)

# Placement outputs: exactly one per interaction that reached the journey stage.
PLACEMENTS = frozenset({"journey.started", "journey.continued"})
DLQ_REASON_HEADER = "error.reason"


class BoundedLabel:
    """The values of one label, at most `limit` of them; later new values become `other`."""

    def __init__(self, limit: int = LABEL_VALUE_LIMIT) -> None:
        self._seen: set[str] = set()
        self._limit = limit

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


class CacheFigures(Protocol):
    """What a cache tells about itself (`storage.redis_state.DecodedStates`)."""

    @property
    def used(self) -> int: ...
    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...


class _StateCache(Collector):
    """The journey stage's decoded-states cache, read when scraped (nothing per lookup)."""

    def __init__(self, cache: CacheFigures) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily(
            "journey_stitcher_state_cache_bytes",
            "Stored size of the customer states the journey stage keeps decoded (bounded by "
            "JOURNEY_STITCHER_STATE_CACHE_MB).")
        size.add_metric([], self._cache.used)
        yield size
        lookups = CounterMetricFamily(
            "journey_stitcher_state_cache_lookups",
            "Customer states read from Redis, by whether the decoded copy kept was still "
            "current (hit) or the state was decoded (miss).", labels=["result"])
        lookups.add_metric(["hit"], self._cache.hits)
        lookups.add_metric(["miss"], self._cache.misses)
        yield lookups


@dataclass(frozen=True, slots=True)
class LagSample:
    """Consumer lag of one owned partition, as the worker measured it."""

    topic: str
    partition: int
    messages: int
    seconds: float


class WorkerMetrics:
    """The metrics of one worker process, in their own registry."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        # No `_created` series: nothing here needs them. (prometheus_client leaves it untyped.)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self._clock = clock
        r = self.registry
        # Records consumed, by input topic: `interactions` and the internal resolved topic.
        self.events_in = Counter("journey_stitcher_events_in_total",
                                 "Records consumed, by topic.", ["topic"], registry=r)
        # Records produced and acknowledged by Kafka, by topic (outputs, resolved, DLQ).
        self.events_out = Counter("journey_stitcher_events_out_total",
                                  "Records produced and acknowledged by Kafka, by topic.",
                                  ["topic"], registry=r)
        # Interactions sent to the dead-letter topic, by `error.reason` (SPEC §5).
        self.dlq = Counter("journey_stitcher_dlq_total",
                           "Records sent to the dead-letter topic, by reason.", ["reason"],
                           registry=r)
        # Time to process one batch and have Kafka acknowledge its outputs, by stage.
        self.processing = Histogram("journey_stitcher_processing_seconds",
                                    "Time to process one batch and send its outputs, by stage "
                                    "(identity, journeys).", ["stage"], buckets=BATCH_BUCKETS,
                                    registry=r)
        # Now − occurred_at of each interaction placed in a journey.
        self.end_to_end = Histogram("journey_stitcher_end_to_end_seconds",
                                    "Wall-clock time from an interaction's occurred_at to its "
                                    "journey output.", buckets=END_TO_END_BUCKETS, registry=r)
        # Records behind the committed offset, per owned partition.
        self.lag_messages = Gauge("journey_stitcher_consumer_lag_messages",
                                  "Records after the group's committed offset, per owned "
                                  "partition.", ["topic", "partition"], registry=r)
        # Age of the oldest record not yet committed, per owned partition (0 without lag).
        self.lag_seconds = Gauge("journey_stitcher_consumer_lag_seconds",
                                 "Age of the oldest record after the committed offset, per "
                                 "owned partition (0 without lag).", ["topic", "partition"],
                                 registry=r)
        # Identifier entries ignored as blocked or unusable (SPEC §4: "ignored, counted"),
        # those of interactions rejected as no_identity included.
        self.identifiers_dropped = Counter("journey_stitcher_identifiers_dropped_total",
                                           "Identifier entries ignored as blocked values or "
                                           "unusable after normalization.", registry=r)
        # identity.merged outputs.
        self.merges = Counter("journey_stitcher_merges_total",
                              "Customer profiles merged (identity.merged).", registry=r)
        # identity.conflict outputs, by reason (unique_conflict, limit_exceeded, ...).
        self.conflicts = Counter("journey_stitcher_conflicts_total",
                                 "Links or merges refused (identity.conflict), by reason.",
                                 ["reason"], registry=r)
        # journey.handoff outputs, by channel pair and kind (channel_switch, device_switch).
        self.handoffs = Counter("journey_stitcher_handoffs_total",
                                "Cross-channel and cross-device handoffs (journey.handoff).",
                                ["from_channel", "to_channel", "kind"], registry=r)
        # Journeys waiting for their inactivity deadline in the shards this worker owns.
        self.open_journeys = Gauge("journey_stitcher_open_journeys",
                                   "Open journeys in the deadline shards this worker owns.",
                                   registry=r)
        # Records consumed but held back to restore arrival order across partitions, by stage.
        self.held = Gauge("journey_stitcher_held_events",
                          "Records consumed and held back until older records of other "
                          "partitions arrive, by stage (identity, journeys).", ["stage"],
                          registry=r)
        # Round trips to Redis, by operation (command name; `exec` for a MULTI/EXEC).
        self.redis_seconds = Histogram("journey_stitcher_redis_seconds",
                                       "Redis round-trip time, by operation.", ["operation"],
                                       buckets=REDIS_BUCKETS, registry=r)
        # Redis calls that failed for the connection (refused, timed out, reset); retried.
        self.redis_errors = Counter("journey_stitcher_redis_errors_total",
                                    "Redis calls failed for the connection (they are retried).",
                                    registry=r)
        # Partition assignments received (one per consumer-group rebalance).
        self.rebalances = Counter("journey_stitcher_rebalances_total",
                                  "Consumer-group rebalances this worker took part in.",
                                  registry=r)
        # 1 when /readyz answers 200: partitions assigned, Kafka and Redis reachable.
        self.ready = Gauge("journey_stitcher_ready",
                           "1 when ready (partitions assigned, Kafka and Redis answer), else 0.",
                           registry=r)
        self._topic = BoundedLabel()
        self._reason = BoundedLabel()
        self._channel = BoundedLabel()
        self._operation = BoundedLabel()

    def render(self) -> bytes:
        """The registry in the Prometheus text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def consumed(self, topic: str, count: int) -> None:
        self.events_in.labels(self._topic(topic)).inc(count)

    def watch_state_cache(self, cache: CacheFigures) -> None:
        """Export `journey_stitcher_state_cache_bytes` and `..._lookups_total` of `cache`."""
        self.registry.register(_StateCache(cache))

    def held_by(self, stage: str) -> Callable[[int], None]:
        """A setter of the held-records gauge of `stage`."""
        return self.held.labels(stage).set

    def batch(self, stage: str, seconds: float) -> None:
        self.processing.labels(stage).observe(seconds)

    def sent(self, records: Iterable[OutgoingRecord]) -> None:
        """Records Kafka acknowledged; dead letters are told apart by their reason header."""
        per_topic: dict[str, int] = {}
        for record in records:
            per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
            for name, value in record.headers or ():
                if name == DLQ_REASON_HEADER:
                    self.dlq.labels(self._reason(value.decode(errors="replace"))).inc()
        for topic, count in per_topic.items():
            self.events_out.labels(self._topic(topic)).inc(count)

    def dropped(self, identifiers: int) -> None:
        """Identifier entries the identity stage ignored (the stages' `OutputObserver`)."""
        self.identifiers_dropped.inc(identifiers)

    def produced(self, events: Sequence[CloudEvent]) -> None:
        """Output events a stage produced (the stages' `OutputObserver`)."""
        now = self._clock()
        for event in events:
            kind = event["type"]
            if kind in PLACEMENTS:
                occurred = datetime.fromisoformat(event["data"]["occurred_at"])
                self.end_to_end.observe(max(0.0, now - occurred.timestamp()))
            elif kind == "journey.handoff":
                data = event["data"]
                self.handoffs.labels(self._channel(data["from"]["channel"]),
                                     self._channel(data["to"]["channel"]), data["kind"]).inc()
            elif kind == "identity.merged":
                self.merges.inc()
            elif kind == "identity.conflict":
                self.conflicts.labels(self._reason(event["data"]["reason"])).inc()

    def redis_call(self, operation: str, seconds: float, *, failed: bool = False) -> None:
        self.redis_seconds.labels(self._operation(operation)).observe(seconds)
        if failed:
            self.redis_errors.inc()

    def lag(self, samples: Iterable[LagSample]) -> None:
        """Replace the lag gauges: partitions this worker no longer owns disappear."""
        self.lag_messages.clear()
        self.lag_seconds.clear()
        for s in samples:
            labels = (self._topic(s.topic), str(s.partition))
            self.lag_messages.labels(*labels).set(s.messages)
            self.lag_seconds.labels(*labels).set(s.seconds)

    def rebalanced(self) -> None:
        self.rebalances.inc()

    def set_ready(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)

    def set_open_journeys(self, count: int) -> None:
        self.open_journeys.set(count)


class GatewayMetrics:
    """The metrics of one gateway process, in their own registry."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        # Webhook requests answered, by adapter (`unknown` for a path of no adapter) and status.
        self.requests = Counter("journey_stitcher_gateway_requests_total",
                                "Ingest requests answered, by adapter and HTTP status.",
                                ["adapter", "status"], registry=r)
        # Interaction events the adapters made and Kafka acknowledged, by adapter.
        self.events = Counter("journey_stitcher_gateway_events_total",
                              "Interaction events published, by adapter.", ["adapter"],
                              registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def answered(self, adapter: str, status: int) -> None:
        self.requests.labels(adapter, str(status)).inc()

    def published(self, adapter: str, count: int) -> None:
        self.events.labels(adapter).inc(count)


def exported_names(registry: CollectorRegistry) -> set[str]:
    """The metric names a registry exports (counters with their `_total`)."""
    return {f"{m.name}_total" if m.type == "counter" else m.name for m in registry.collect()}
