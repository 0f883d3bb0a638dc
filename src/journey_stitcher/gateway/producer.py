"""The gateway's producer: interaction events to `interactions`, rejected items to the DLQ.

:meth:`InteractionProducer.send_events` returns only once Kafka acknowledged every record
(``acks="all"``, idempotent, a short linger so that concurrent requests share batches); it
raises :class:`KafkaUnavailable` when that did not happen within the send timeout, so the
caller answers 503 and the vendor retries: never a silent drop. A retried post may duplicate
records that were in fact written; they carry the same event ids and are deduplicated.

The connection is made in :meth:`~InteractionProducer.start` (never in ``__init__``) and, when
Kafka is down, again on the next request, no more often than ``reconnect_interval``.

    StitcherError
    ├── TransientError
    │   └── KafkaUnavailable   Kafka cannot be reached or did not acknowledge in time: 503
    └── InvalidInput
        └── RecordTooLarge     Kafka refuses a record for its size: 413
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from journey_stitcher.adapters.base import Event, Rejection
from journey_stitcher.errors import InvalidInput, TransientError
from journey_stitcher.kafka import ensure_topics
from journey_stitcher.worker.records import OutgoingRecord, dead_letter

__all__ = [
    "EventProducer",
    "InteractionProducer",
    "KafkaUnavailable",
    "RecordTooLarge",
    "dead_letters",
]

log = logging.getLogger(__name__)

LINGER_MS = 5  # a few ms of batching; the request waits for the acknowledgement anyway


class KafkaUnavailable(TransientError):
    """Kafka cannot be reached or did not acknowledge in time; ask the sender to retry."""


class RecordTooLarge(InvalidInput):
    """Kafka refuses a record for its size; retrying cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__("too_large", message)


class EventProducer(Protocol):
    """What the gateway needs from a producer (an in-memory one serves unit tests)."""

    async def start(self) -> None:
        """Try to connect; a failure is logged, not raised (the gateway serves 503 meanwhile)."""

    async def stop(self) -> None:
        """Flush what is in flight and disconnect."""

    async def send_events(
        self, events: Sequence[Event], dead_letters: Sequence[OutgoingRecord] = ()
    ) -> None:
        """Produce the events (keyed) and the dead letters; return once all are acknowledged."""

    async def ping(self) -> None:
        """Raise :class:`KafkaUnavailable` unless a metadata fetch from the cluster works."""


class InteractionProducer:
    """An idempotent, batching aiokafka producer of interaction events."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        dlq_topic: str,
        keys: Callable[[bytes], bytes | None],
        send_timeout: float,
        partitions: int = 1,
        replication: int = 1,
        reconnect_interval: float = 1.0,
        create_topics: bool = True,
        clock: Callable[[], float] = time.monotonic,
        client: Callable[..., Any] = AIOKafkaProducer,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``client`` builds the aiokafka producer (tests pass a stand-in); ``create_topics``
        creates the two topics on connection when they are missing; ``client_options`` is
        the clients' security (`kafka.kafka_client_options`)."""
        self._bootstrap = bootstrap
        self._options = dict(client_options or {})
        self._topic = topic
        self._dlq_topic = dlq_topic
        self._keys = keys
        self._timeout = send_timeout
        self._partitions = partitions
        self._replication = replication
        self._reconnect_interval = reconnect_interval
        self._create_topics = create_topics
        self._clock = clock
        self._client = client
        self._producer: Any = None
        self._next_attempt = 0.0
        self._lock = asyncio.Lock()

    @property
    def topic(self) -> str:
        return self._topic

    async def start(self) -> None:
        try:
            await self._connected()
        except KafkaUnavailable as error:
            log.warning("Kafka not reachable yet (%s); answering 503 until it is", error)

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send_events(
        self, events: Sequence[Event], dead_letters: Sequence[OutgoingRecord] = ()
    ) -> None:
        records = [self.record(event) for event in events] + list(dead_letters)
        if not records:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        producer = await self._connected(deadline)
        futures = await self._enqueue(producer, records, deadline)
        done, pending = await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        if pending:
            raise KafkaUnavailable(
                f"{len(pending)} of {len(futures)} records not acknowledged within "
                f"{self._timeout:g} s"
            )
        failed = next((f.exception() for f in done if f.exception() is not None), None)
        if failed is not None:
            raise KafkaUnavailable(f"Kafka refused a record: {_describe(failed)}") from failed

    def record(self, event: Event) -> OutgoingRecord:
        """The `interactions` record of an event, keyed by its best identifier's hash."""
        value = orjson.dumps(event)
        return OutgoingRecord(self._topic, self._keys(value), value)

    async def ping(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        producer = await self._connected(deadline)
        try:
            async with asyncio.timeout_at(deadline):
                metadata = await producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError, OSError) as error:
            raise KafkaUnavailable(f"metadata fetch failed: {_describe(error)}") from None
        if self._topic not in metadata.topics():
            raise KafkaUnavailable(f"topic {self._topic!r} does not exist")

    async def _enqueue(
        self, producer: Any, records: Sequence[OutgoingRecord], deadline: float
    ) -> list[asyncio.Future[Any]]:
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout_at(deadline):  # send() waits for metadata and buffer room
                for r in records:
                    future = await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
                    future.add_done_callback(_retrieve)
                    futures.append(future)
        except MessageSizeTooLargeError as error:
            raise RecordTooLarge(f"Kafka refuses the record: {_describe(error)}") from None
        except (KafkaError, TimeoutError) as error:
            raise KafkaUnavailable(f"cannot send to Kafka: {_describe(error)}") from None
        return futures

    async def _connected(self, deadline: float | None = None) -> Any:
        """The started producer, connecting first when needed (one attempt at a time)."""
        if self._producer is not None:
            return self._producer
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self._timeout
        try:
            async with asyncio.timeout_at(deadline), self._lock:
                if self._producer is None:
                    if self._clock() < self._next_attempt:
                        raise KafkaUnavailable(f"cannot reach Kafka at {self._bootstrap}")
                    self._producer = await self._connect()
        except TimeoutError:
            raise KafkaUnavailable(
                f"no connection to Kafka at {self._bootstrap} within {self._timeout:g} s"
            ) from None
        return self._producer

    async def _connect(self) -> Any:
        producer = self._client(
            bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True,
            linger_ms=LINGER_MS, client_id="journey-stitcher-gateway", **self._options,
        )
        try:
            await producer.start()
            if self._create_topics:
                await ensure_topics(self._bootstrap, (self._topic, self._dlq_topic),
                                    self._partitions, self._replication, options=self._options)
        except BaseException as error:
            self._next_attempt = self._clock() + self._reconnect_interval
            await producer.stop()
            if isinstance(error, KafkaError | OSError):
                raise KafkaUnavailable(
                    f"cannot reach Kafka at {self._bootstrap}: {_describe(error)}"
                ) from None
            raise
        log.info("connected to Kafka at %s", self._bootstrap)
        return producer


def dead_letters(
    topic: str, source: str, adapter: str, body: bytes, rejected: Sequence[Rejection]
) -> list[OutgoingRecord]:
    """One dead-letter record per rejected item of a payload (SPEC §5 headers).

    The value is the item as the adapter parsed it (the whole body when it has none);
    ``source.topic`` is ``source`` (``gateway/<adapter>``), partition and offset -1: the item
    was never on a topic. The message names the field, never its value (the DLQ contract);
    the adapters' own messages quote values, so they stay out of the headers.
    """
    records = []
    for rejection in rejected:
        value = body
        if rejection.item is not None:
            try:
                value = orjson.dumps(rejection.item)
            except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: keep the body
                value = body
        records.append(dead_letter(topic, value, None, rejection.reason,
                                   _safe_message(adapter, rejection), source, -1, -1))
    return records


def _safe_message(adapter: str, rejection: Rejection) -> str:
    where = rejection.field or "body"
    item = "the body" if rejection.index is None else f"item {rejection.index}"
    return f"{where}: {rejection.reason} ({item} of a {adapter} payload)"


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a late failure as seen: the request it belonged to has already answered 503."""
    if not future.cancelled():
        future.exception()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
