"""The Faust wiring: topics, the two agents, the abandonment timer, the producer.

    interactions ──► identity agent ──► <resolved> (keyed by customer) ──► journey agent
                        │                                                   │
                        ├─► identities, interactions.dlq                    ├─► journeys, handoffs
                                                                            timer ─► journeys

Both agents run at concurrency 1 (faust-streaming #606) and take the stream in batches;
a batch's input is acknowledged only after Kafka acknowledged every record it produced.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import faust
from aiokafka.errors import KafkaError
from faust.types import TP

from journey_stitcher.config import StitcherConfig
from journey_stitcher.kafka import ensure_topics, faust_credentials, kafka_client_options
from journey_stitcher.ops.heap import HeapTrimmer
from journey_stitcher.ops.worker import WorkerApp, WorkerOps
from journey_stitcher.partitioning import KeyPartitioner
from journey_stitcher.settings import Settings
from journey_stitcher.storage.redis_state import KeyLayout
from journey_stitcher.worker.ordering import ArrivalMerge, Produced
from journey_stitcher.worker.records import OutgoingRecord, Sender, Topics
from journey_stitcher.worker.stages import TRANSIENT, IdentityStage, Incoming, JourneyStage

log = logging.getLogger(__name__)


class FaustSender:
    """Sends through the app's producer; retries until Kafka acknowledged everything.
    Records to the `tracked` topic go to partitions chosen up front and are counted there
    while in flight (`ordering.Produced`)."""

    def __init__(self, app: faust.App, ceiling: float = 10.0, tracked: Produced | None = None) -> None:
        self._app = app
        self._ceiling = ceiling
        self._tracked = tracked

    async def send_all(self, records: Sequence[OutgoingRecord]) -> None:
        tracked = self._tracked
        partitions = [tracked.partition(r.key) if tracked is not None and r.topic == tracked.topic
                      and r.key is not None else None for r in records]
        flying = [p for p in partitions if p is not None]
        if tracked is not None:
            tracked.begin(flying)
        try:
            await self._send(records, partitions)
        finally:
            if tracked is not None:
                tracked.end(flying)

    async def _send(self, records: Sequence[OutgoingRecord], partitions: list[int | None]) -> None:
        delay = 0.1
        while records:
            try:
                producer = self._app.producer
                pending = [await producer.send(r.topic, r.key, r.value, partition,
                                               _seconds(r.timestamp_ms), r.headers)
                           for r, partition in zip(records, partitions, strict=True)]
                acknowledged = await asyncio.gather(*pending)
                if self._tracked is not None:
                    for metadata in acknowledged:
                        if metadata.topic == self._tracked.topic:
                            self._tracked.acknowledged(metadata.partition, metadata.offset)
                return
            except KafkaError as error:  # redelivery is harmless: outputs are deterministic
                log.warning("kafka send failed (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._ceiling)


def _seconds(timestamp_ms: int | None) -> float | None:
    """Faust's producer takes seconds and truncates `seconds * 1000` back: the half
    millisecond keeps float rounding from moving a timestamp one millisecond earlier."""
    return (timestamp_ms + 0.5) / 1000.0 if timestamp_ms is not None else None


def _incoming(event: Any) -> Incoming:
    message = event.message
    stamp = round(message.timestamp * 1000) if message.timestamp else 0
    # The headers as Faust has them: read only when the record is dead-lettered.
    headers = getattr(message, "headers", None) or ()  # (test doubles may have none)
    return Incoming(message.value or b"", message.key, message.topic, message.partition,
                    message.offset, stamp, headers, tombstone=message.value is None)


class InArrivalOrder:
    """Takes a Faust stream in batches and hands them on in arrival order across partitions
    (`worker.ordering`). Held events are acknowledged only once processed: each gets an extra
    reference, released by `done`, so their offsets cannot be committed before.

    A partition with `pause_at` events held is paused until half of them are processed: the
    merge then waits for the partitions that are behind without piling up the others. The
    pause is Faust's own back pressure (`on_buffer_full`/`on_buffer_drop`, what a full stream
    buffer does): the fetcher stops asking for the partition, and records already fetched
    are still delivered. (`Consumer.pause_partitions` would drop those: its `getmany`
    yields only records of partitions still active, after aiokafka moved past them.) Faust
    may lift that pause when its own buffer drains, so it is asserted again on every call."""

    def __init__(self, app: faust.App, topic: str, produced: Produced | None = None,
                 pause_at: int = 1000, on_held: Callable[[int], None] | None = None) -> None:
        self._app = app
        self._topic = topic
        self._produced = produced
        self._merge: ArrivalMerge[Any] = ArrivalMerge()
        self._last_offset: dict[int, int] = {}
        self._pause_at = pause_at
        self._paused: set[int] = set()
        self._on_held = on_held

    @property
    def held(self) -> int:
        return len(self._merge)

    @property
    def paused(self) -> frozenset[int]:
        return frozenset(self._paused)

    def arrange(self, events: Sequence[Any]) -> list[Any]:
        """Queue a batch; the events that may be processed now, oldest first."""
        assigned = {tp.partition for tp in self._app.consumer.assignment()
                    if tp.topic == self._topic}
        for event in self._merge.forget(assigned):  # revoked: the new owner processes them
            event.message.decref()  # dropped unacknowledged, so never committed
        self._paused &= assigned  # Faust forgets the pauses of revoked partitions itself
        self._merge.expect(assigned)
        for event in events:
            message = event.message
            message.incref()  # acknowledged by `done`, not by the end of the batch
            self._merge.add(message.partition, _incoming(event).timestamp_ms, event)
            self._last_offset[message.partition] = message.offset
        ready = self._merge.release(self._behind)
        self._throttle()
        if self._on_held is not None:
            self._on_held(len(self._merge))
        return ready

    def _throttle(self) -> None:
        merge, consumer = self._merge, self._app.consumer
        drained = {p for p in self._paused if merge.queued(p) <= self._pause_at // 2}
        self._paused = (self._paused - drained) | merge.crowded(self._pause_at)
        for partition in self._paused:
            consumer.on_buffer_full(TP(self._topic, partition))
        for partition in drained:
            consumer.on_buffer_drop(TP(self._topic, partition))

    def _behind(self, partition: int) -> bool:
        """True when the partition has (or is about to receive) records this worker has not
        consumed yet."""
        produced = self._produced
        if produced is not None and produced.in_flight(partition):
            return True
        # Faust types it int; aiokafka answers None before the partition's first fetch.
        highwater = cast("int | None", self._app.consumer.highwater(TP(self._topic, partition)))
        if highwater is None:  # not fetched yet: it may well hold older records
            return True
        end = max(highwater, produced.end_offset(partition) if produced is not None else 0)
        return self._next_offset(partition) < end

    def _next_offset(self, partition: int) -> int:
        """The next offset of `partition` this worker will consume: after the last one it
        consumed, or, before its first record, the group's committed offset. Without the
        latter, a partition with nothing new after a restart (committed = end) would count as
        behind for good and hold every other partition's records back."""
        last = self._last_offset.get(partition)
        if last is not None:
            return last + 1
        # Faust's own record of the committed offsets, filled when partitions are assigned
        # (`Consumer.perform_seek`); Kafka's meaning: the next offset to read.
        committed = getattr(self._app.consumer, "_committed_offset", {})
        return int(committed.get(TP(self._topic, partition)) or 0)

    @staticmethod
    def done(events: Sequence[Any]) -> None:
        for event in events:
            event.ack()


async def sweep_idle(shards: Sequence[int], journeys: JourneyStage, sender: Sender,
                     lock: asyncio.Lock) -> bool:
    """Send the idle journeys' outputs of `shards` (the outbox first, then new ones); False
    when Redis or Kafka is away. That is not a crash of the worker: the deadlines and the
    outbox stay in Redis, and the next tick takes them up again (SPEC §8: retried, never
    skipped)."""
    try:
        for shard in shards:
            async with lock:
                for records in (await journeys.pending(shard), await journeys.sweep(shard)):
                    await sender.send_all(records)
                    await journeys.acknowledge(shard, records)
    except TRANSIENT as error:
        log.warning("abandonment sweep postponed to the next tick: %s", type(error).__name__)
        return False
    return True


async def in_batches(events: Sequence[Any], size: int,
                     process: Callable[[list[Any]], Awaitable[None]]) -> None:
    """Process what the arrival-order merge released, `size` events at a time. It releases
    everything it held at once when the partitions it waited for catch up (up to `pause_at`
    per partition: 8,000 events on 8 partitions), and a batch holds its customers' states,
    outputs and Redis transaction in memory until it is done."""
    for start in range(0, len(events), size):
        await process(list(events[start:start + size]))


def create_app(
    settings: Settings, config: StitcherConfig, pepper: bytes,
    stages: tuple[type[IdentityStage], type[JourneyStage]] = (IdentityStage, JourneyStage),
) -> faust.App:
    """The worker application, ready for `faust.Worker`. `stages` lets the benchmark run
    its naive variant (`bench.naive`) in the very same wiring."""
    ops = WorkerOps(settings)  # /metrics, /healthz, /readyz, lag; drains on SIGTERM
    app = WorkerApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=faust_credentials(settings),
        store="memory://",
        datadir=settings.faust_datadir(),
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_in_thread=False,
        # Held events (InArrivalOrder) stay unacknowledged until processed, so nothing may
        # wait for every delivered event to be acknowledged: it would wait forever. Stops and
        # rebalances wait for the batches in progress only (WorkerApp, ops/drain.py); the
        # rest is redelivered to the next owner of the partition.
        stream_wait_empty=False,
        # Back pressure: how many consumed records a stream may hold before its agent takes
        # them. Two batches keep the agents busy; more only costs memory.
        stream_buffer_maxsize=2 * settings.batch_size,
        # Prefetch per partition (16 of them: input and re-keyed topic). Faust's 1 MiB could
        # hold ~40k decoded records: 256 KiB is ~600 interactions, more than a batch (peak RSS
        # 344 → 306 MB at 200k with the smaller touch cache). A bigger record still comes
        # through: the broker returns at least one.
        consumer_max_fetch_size=256 * 1024,
        # Kafka's default partitioner, hashing each busy customer's key once (`partitioning`).
        producer_partitioner=KeyPartitioner(),
    )
    topics = Topics.from_settings(settings)
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                           "key_serializer": "raw", "value_serializer": "raw"}
    interactions = app.topic(topics.interactions, partitions=settings.partitions, **raw)
    resolved = app.topic(topics.resolved, partitions=settings.partitions, internal=True, **raw)

    redis = ops.redis()
    layout = KeyLayout(prefix=settings.redis_prefix, shards=settings.partitions)
    identity = stages[0](config, pepper, redis, layout, topics)
    journeys = stages[1](config, pepper, redis, layout, topics,
                         state_cache_bytes=int(settings.state_cache_mb * 2**20))
    identity.observer = journeys.observer = ops.metrics
    ops.metrics.watch_state_cache(journeys.decoded_states)
    rekeyed = Produced(topics.resolved, settings.partitions)
    sender = ops.sender(FaustSender(app, tracked=rekeyed))
    journey_lock = asyncio.Lock()
    identity_lock = asyncio.Lock()
    # Up to two batches held per partition (Kafka Streams buffers 1,000 records per partition).
    pause_at = 2 * settings.batch_size
    identity_order = InArrivalOrder(app, topics.interactions, pause_at=pause_at,
                                    on_held=ops.metrics.held_by("identity"))
    journey_order = InArrivalOrder(app, topics.resolved, rekeyed, pause_at=pause_at,
                                   on_held=ops.metrics.held_by("journeys"))

    async def resolve(events: list[Any]) -> None:
        async with identity_lock:
            records = await identity.process([_incoming(e) for e in events])
            await sender.send_all(records)
        identity_order.done(events)

    async def place(events: list[Any]) -> None:
        async with journey_lock:
            records = await journeys.process([_incoming(e) for e in events])
            await sender.send_all(records)
        journey_order.done(events)

    def ordered_agent(topic: Any, name: str, order: InArrivalOrder,
                      process: Callable[[list[Any]], Awaitable[None]]) -> None:
        """An agent taking `topic` in batches and handing them on in arrival order."""

        async def agent(stream: Any) -> None:
            async for batch in ops.batches(name, stream.take_events(
                    settings.batch_size, within=settings.batch_timeout_seconds)):
                await in_batches(order.arrange(batch), settings.batch_size, process)

        app.agent(topic, concurrency=1, name=name)(agent)

    ordered_agent(interactions, "identity", identity_order, resolve)
    ordered_agent(resolved, "journeys", journey_order, place)

    @app.task  # type: ignore[untyped-decorator]
    async def release_held() -> None:
        """Held events whose partitions caught up meanwhile go on even if no batch comes.
        A loop rather than `app.timer`: processing what it releases may well take longer
        than the interval, which a timer reports as "overlapping" every time."""
        while not app.should_stop:
            await app.sleep(settings.batch_timeout_seconds)
            for order, process in ((identity_order, resolve), (journey_order, place)):
                await in_batches(order.arrange([]), settings.batch_size, process)

    @app.timer(settings.abandonment_interval_seconds)  # type: ignore[untyped-decorator]
    async def abandonment() -> None:
        shards = sorted(tp.partition for tp in app.consumer.assignment()
                        if tp.topic == topics.resolved)
        await sweep_idle(shards, journeys, sender, journey_lock)

    trimmer = HeapTrimmer()
    if settings.heap_trim_seconds and trimmer.available:
        @app.timer(settings.heap_trim_seconds)  # type: ignore[untyped-decorator]
        async def trim_heap() -> None:
            trimmer.trim()

    ops.install(app, layout)
    app.conf.journey_stitcher = {"identity": identity, "journeys": journeys, "redis": redis}
    return app


def run_worker(
    settings: Settings, config: StitcherConfig,
    stages: tuple[type[IdentityStage], type[JourneyStage]] = (IdentityStage, JourneyStage),
) -> None:
    """Run the worker until SIGTERM/SIGINT (Faust drains, flushes and commits on stop)."""
    pepper = settings.pepper_bytes()
    if settings.pepper_is_development:
        log.warning("no JOURNEY_STITCHER_PEPPER set: hashing with the development pepper")
    topics = Topics.from_settings(settings)
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers,
                              [topics.interactions, *topics.outputs(), topics.dlq],
                              settings.partitions, settings.replication_factor,
                              options=kafka_client_options(settings)))
    app = create_app(settings, config, pepper, stages)
    # The worker keeps long-lived caches (decoded states, hashes, touches): a full collection
    # would walk them all, so collect older objects rarely and leave what start-up created
    # out of collections altogether. Young objects are collected every 10,000 allocations:
    # the libraries' reference cycles (aiokafka's unread fetches, asyncio's exceptions) can
    # hold large buffers, and at 50,000 they piled up for minutes (docs/operations.md, "Memory";
    # the measurements: README, "End to end: make bench").
    gc.set_threshold(10_000, 20, 100)
    gc.freeze()
    # aiokafka formats a debug record for every message it sends unless told otherwise.
    logging.getLogger("aiokafka").setLevel(settings.log_level.upper())
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
