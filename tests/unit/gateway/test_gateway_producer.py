"""The producer answers for Kafka: acknowledged, or a clear 'unavailable', never a silent drop."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from journey_stitcher.gateway.producer import InteractionProducer, KafkaUnavailable
from tests.unit.gateway.conftest import courier_scan


class StandInKafka:
    """Plays aiokafka's producer: refuses connections, or accepts records it never acknowledges
    (a broker that went away after the connection), or acknowledges them at once."""

    connections = 0

    def __init__(self, *, mode: str, **config: Any) -> None:
        self.mode = mode
        self.config = config
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def start(self) -> None:
        StandInKafka.connections += 1
        if self.mode == "refuse":
            raise ConnectionRefusedError("Connect call failed ('127.0.0.1', 1)")

    async def stop(self) -> None:
        pass

    async def send(self, topic: str, value: bytes, *, key: bytes | None,
                   headers: Any) -> asyncio.Future[Any]:
        self.sent.append((topic, value, key))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.mode == "ack":
            future.set_result(None)
        return future


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def producer(mode: str, clock: Clock | None = None, timeout: float = 0.2) -> InteractionProducer:
    """A gateway producer over the stand-in, keyed by the event's order reference."""
    def client(**config: Any) -> StandInKafka:
        return StandInKafka(mode=mode, **config)

    return InteractionProducer(
        bootstrap="kafka-1:9092", topic="interactions", dlq_topic="interactions.dlq",
        keys=lambda raw: orjson.loads(raw)["refs"]["order_id"].encode(), send_timeout=timeout,
        create_topics=False, clock=clock or Clock(), client=client,
    )


async def test_acknowledged_events_are_keyed_and_sent_idempotently() -> None:
    """The courier scan goes to `interactions` keyed, with acks from all replicas, idempotent."""
    gateway = producer("ack")
    await gateway.send_events([courier_scan()])
    kafka = gateway._producer
    assert kafka.config["acks"] == "all"
    assert kafka.config["enable_idempotence"] is True
    assert kafka.sent == [("interactions", orjson.dumps(courier_scan()), b"5917349085231")]
    await gateway.stop()


async def test_records_never_acknowledged_raise_unavailable_at_the_deadline() -> None:
    """A broker that takes records but never acknowledges them makes the send fail, not hang."""
    gateway = producer("stall")
    with pytest.raises(KafkaUnavailable, match="1 of 1 records not acknowledged"):
        await asyncio.wait_for(gateway.send_events([courier_scan()]), timeout=5)


async def test_a_refused_connection_is_retried_no_more_than_once_a_second() -> None:
    """While Kafka refuses connections, requests fail at once instead of piling up connects."""
    clock = Clock()
    gateway = producer("refuse", clock)
    StandInKafka.connections = 0
    await gateway.start()  # logged, not raised: the gateway serves 503 meanwhile
    with pytest.raises(KafkaUnavailable):
        await gateway.send_events([courier_scan()])
    assert StandInKafka.connections == 1
    clock.now += 1.0
    with pytest.raises(KafkaUnavailable, match="cannot reach Kafka at kafka-1:9092"):
        await gateway.send_events([courier_scan()])
    assert StandInKafka.connections == 2


async def test_nothing_to_send_needs_no_connection() -> None:
    """A post of delivery reports only publishes nothing and does not wait for Kafka."""
    gateway = producer("refuse")
    StandInKafka.connections = 0
    await gateway.send_events([])
    assert StandInKafka.connections == 0
