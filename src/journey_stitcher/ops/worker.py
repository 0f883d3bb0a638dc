"""The worker's operations surface, wired into its Faust app (SPEC §9, docs/operations.md).

    /metrics    Prometheus text format (`ops.metrics.WorkerMetrics`)
    /healthz    200 while the stream makes progress or has nothing to do; 503 when a topic
                with lag had no batch for JOURNEY_STITCHER_STALL_SECONDS (`ops.health`)
    /readyz     200 once partitions are assigned and Kafka and Redis answer; 503 otherwise
                and from SIGTERM on

Every `JOURNEY_STITCHER_LAG_INTERVAL_SECONDS` the worker measures the lag of its own
partitions (committed offsets of its group against the high-water marks, `ops.lag`), counts
the open journeys of the deadline shards it owns, and refreshes `journey_stitcher_ready`.

SIGTERM (`WorkerApp`): Faust stops fetching; the batches in progress finish, their outputs
acknowledged by Kafka; the offsets are committed; the process exits 0 (`ops.drain`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import faust
import orjson
from aiokafka import TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError

from journey_stitcher.kafka import kafka_client_options
from journey_stitcher.ops.drain import Drain
from journey_stitcher.ops.health import CheckResult, Liveness, NotReady, Readiness, describe_error
from journey_stitcher.ops.lag import LagProbe, PartitionLag
from journey_stitcher.ops.metrics import CONTENT_TYPE, LagSample, WorkerMetrics
from journey_stitcher.ops.redis import TimedRedis, connect_redis
from journey_stitcher.settings import Settings
from journey_stitcher.storage.redis_state import KeyLayout
from journey_stitcher.worker.records import OutgoingRecord, Sender

__all__ = ["CountingSender", "WorkerApp", "WorkerOps"]

log = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 2.0  # the probes of deploy/k8s give up after 3


class WorkerApp(faust.App):
    """`faust.App` whose stop and rebalances wait for the batches in progress, and only them.

    Faust's own wait (`stream_wait_empty`) waits until every delivered record is
    acknowledged; records an agent holds back to restore arrival order are not, so it would
    wait until the grace period ran out and the process were killed mid-batch. Here the
    batches in progress finish, the offsets of what was acknowledged are committed, and the
    rest is left to be redelivered.
    """

    drain: Drain | None = None

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        if self.drain is None:
            await super()._consumer_wait_empty(consumer, logger)
            return
        stopping = bool(self.should_stop)
        await self.drain.wait_idle()
        if stopping:
            self.drain.close()
        await consumer.commit()

    async def on_stop(self) -> None:
        if self.drain is not None:
            self.drain.stopping = True
            log.info("stopping: finishing the batches in progress, then committing")
        await super().on_stop()


class CountingSender:
    """A `Sender` that counts what Kafka acknowledged."""

    def __init__(self, inner: Sender, metrics: WorkerMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def send_all(self, records: Sequence[OutgoingRecord]) -> None:
        await self._inner.send_all(records)
        self._metrics.sent(records)


class WorkerOps:
    """Metrics, liveness, readiness, lag and drain of one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = WorkerMetrics()
        self.liveness = Liveness(settings.stall_seconds)
        # A batch the stream already buffered is handed out within the batch timeout.
        self.drain = Drain(quiet_seconds=2 * settings.batch_timeout_seconds + 0.05)
        self._probe = LagProbe(settings.kafka_bootstrap_servers, kafka_client_options(settings))
        self._probe_starting = asyncio.Lock()  # readiness and the refresh may both start it
        self._redis: TimedRedis | None = None
        self._app: Any = None
        self._layout: KeyLayout | None = None
        self._closed = False
        self.readiness = Readiness({"partitions": self._partitions_check,
                                    "kafka": self._kafka_check, "redis": self._redis_check},
                                   timeout=READINESS_TIMEOUT_SECONDS)

    # -- what the Faust wiring uses ----------------------------------------------------------

    def redis(self) -> TimedRedis:
        """The stages' Redis client (from `REDIS_URL`), timed."""
        if self._redis is None:
            self._redis = connect_redis(self.settings, self.metrics)
        return self._redis

    def sender(self, inner: Sender) -> Sender:
        return CountingSender(inner, self.metrics)

    async def batches(self, stage: str, source: AsyncIterator[Sequence[Any]]) -> AsyncIterator[Sequence[Any]]:
        """A stream's batches (Faust events), counted, timed and known to the drain."""
        async for batch in self.drain.batches(source):
            started = time.perf_counter()
            topics = Counter(event.message.topic for event in batch)
            for topic, count in topics.items():
                self.metrics.consumed(topic, count)
            yield batch
            self.metrics.batch(stage, time.perf_counter() - started)
            for topic in topics:
                self.liveness.progressed(topic)

    def install(self, app: Any, layout: KeyLayout) -> None:
        """Pages, the periodic refresh and the signal handlers, on `app` (a `WorkerApp`)."""
        self._app = app
        self._layout = layout
        app.drain = self.drain
        app.page("/metrics", name="metrics")(self._metrics_page())
        app.page("/healthz", name="healthz")(self._healthz_page())
        app.page("/readyz", name="readyz")(self._readyz_page())
        app.timer(self.settings.lag_interval_seconds, name="journey_stitcher_ops")(self.refresh)
        app.on_partitions_assigned.connect(self._assigned)
        app.on_before_shutdown.connect(self._shutting_down)

    # -- pages ---------------------------------------------------------------------------------

    def _metrics_page(self) -> Any:
        async def metrics(view: Any, request: Any) -> Any:
            return view.bytes(self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
        return metrics

    def _healthz_page(self) -> Any:
        async def healthz(view: Any, request: Any) -> Any:
            result = self.liveness.check()
            return _answer(view, result.ok, "ok" if result.ok else "stalled", [result])
        return healthz

    def _readyz_page(self) -> Any:
        async def readyz(view: Any, request: Any) -> Any:
            results = await self.readiness.check()
            ready = all(r.ok for r in results)
            self.metrics.set_ready(ready)
            return _answer(view, ready, "ready" if ready else "unavailable", results)
        return readyz

    # -- readiness checks ---------------------------------------------------------------------------

    async def _partitions_check(self) -> str:
        if self.drain.stopping:
            raise NotReady("stopping (SIGTERM): finishing the batches in progress")
        owned = self._owned()
        if not owned:
            raise NotReady("no partitions assigned (yet, or more workers than partitions)")
        return f"{len(owned)} partitions assigned"

    async def _kafka_check(self) -> str:
        bootstrap = self.settings.kafka_bootstrap_servers
        try:
            await self._started_probe()
            return f"{await self._probe.ping()} at {bootstrap}"
        except (KafkaError, OSError) as error:
            raise NotReady(f"cannot reach Kafka at {bootstrap}: {describe_error(error)}") from None

    async def _redis_check(self) -> str:
        await self.redis().ping()
        return "PONG"

    async def _started_probe(self) -> None:
        async with self._probe_starting:
            if self._closed:
                raise NotReady("stopping")
            if not self._probe.started:
                await self._probe.start()

    # -- periodic refresh -----------------------------------------------------------------------

    async def refresh(self) -> None:
        """Lag, open journeys and readiness of this worker, into the metrics."""
        if self.drain.stopping:
            return
        owned = self._owned()
        await self._refresh_lag(owned)
        await self._refresh_open_journeys(owned)
        self.metrics.set_ready(all(r.ok for r in await self.readiness.check()))

    async def _refresh_lag(self, owned: list[TopicPartition]) -> None:
        try:
            await self._started_probe()
            lags = await self._probe.measure(self.settings.app_id, owned)
        except (KafkaError, OSError, TimeoutError, NotReady) as error:
            log.warning("consumer lag not measured: %s", describe_error(error))
            return
        except (ConsumerStoppedError, RuntimeError):
            # The worker began stopping meanwhile and stopped the probe under the measurement
            # (`_shutting_down`): nothing to measure any more, and no reason to crash the stop.
            if self._closed:
                return
            raise
        self.metrics.lag(_sample(p) for p in lags)
        by_topic: dict[str, int] = {}
        for p in lags:
            by_topic[p.topic] = by_topic.get(p.topic, 0) + p.lag
        self.liveness.lagging(by_topic)

    async def _refresh_open_journeys(self, owned: list[TopicPartition]) -> None:
        shards = sorted(tp.partition for tp in owned if tp.topic == self.settings.topic_resolved)
        if self._layout is None or not shards:
            self.metrics.set_open_journeys(0)
            return
        pipe = self.redis().pipeline(transaction=False)
        for shard in shards:
            pipe.zcard(self._layout.deadlines(shard))
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):  # a hung Redis: lag goes on
                counts = await pipe.execute()
        except Exception as error:  # the gauge keeps its last value; readiness reports Redis
            log.warning("open journeys not counted: %s", describe_error(error))
            return
        self.metrics.set_open_journeys(sum(int(n) for n in counts))

    def _owned(self) -> list[TopicPartition]:
        """The assigned partitions of the two input topics."""
        inputs = (self.settings.topic_interactions, self.settings.topic_resolved)
        try:
            assignment = self._app.consumer.assignment() if self._app is not None else ()
        except Exception:  # the consumer is not started yet
            return []
        return sorted((TopicPartition(tp.topic, tp.partition) for tp in assignment
                       if tp.topic in inputs), key=lambda tp: (tp.topic, tp.partition))

    # -- signals --------------------------------------------------------------------------------

    async def _assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self.metrics.rebalanced()
        self.liveness.restarted()

    async def _shutting_down(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self._closed = True
        self.metrics.set_ready(False)
        await self._probe.stop()


def _sample(p: PartitionLag) -> LagSample:
    seconds = p.age_seconds if p.age_seconds is not None else math.nan
    return LagSample(p.topic, p.partition, p.lag, seconds)


def _answer(view: Any, ok: bool, status: str, results: Sequence[CheckResult]) -> Any:
    body = {"status": status, "checks": {r.name: {"ok": r.ok, "detail": r.detail} for r in results}}
    return view.bytes(orjson.dumps(body), content_type="application/json",
                      status=200 if ok else 503)
