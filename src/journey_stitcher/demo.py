"""`make demo`: a realistic omnichannel sample through a real worker, then what it found.

Starts a worker on the local Kafka and Redis (fresh topics, consumer group and key prefix
each run), publishes generated traffic with the seeds' stories woven in, waits until the
worker has caught up (consumer lag 0), reads the output topics and prints a summary: the
customers and journeys found, continuity and handoffs, the channel handoff matrix, and
two journeys as timelines.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.table import Table

from journey_stitcher.config import load_config
from journey_stitcher.generator import GeneratorConfig, generate_line_bytes
from journey_stitcher.isolation import topic_names, worker_environment
from journey_stitcher.kafka import ensure_topics
from journey_stitcher.ops.lag import consumer_lag, partitions_of
from journey_stitcher.publishing import PartitionKeys, publish_lines

DEMO_PEPPER = "journey-stitcher-demo-pepper"
console = Console(width=110)


async def _caught_up(bootstrap: str, group: str, topics: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lags = await consumer_lag(bootstrap, group, topics)
        if lags and all(p.committed is not None and p.lag == 0 for p in lags
                        if p.end > 0):
            return
        await asyncio.sleep(0.5)  # polling the group's committed offsets
    raise RuntimeError(f"the worker did not catch up within {timeout:.0f}s")


async def _read_all(bootstrap: str, topics: list[str]) -> list[tuple[str, dict[str, Any]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        partitions = [TopicPartition(t, p) for t, found in
                      (await partitions_of(admin, topics)).items() for p in found]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[tuple[str, dict[str, Any]]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    dead = m.topic.endswith(".dlq")  # original bytes, maybe not even JSON
                    out.append((m.topic, {"raw": m.value} if dead else orjson.loads(m.value)))
        return out
    finally:
        await consumer.stop()
        await admin.close()


async def run_demo(bootstrap: str, redis_url: str, events: int, customers: int) -> None:
    run = f"demo-{int(time.time())}"
    names = topic_names(run)
    config = load_config(None)
    cfg = GeneratorConfig(events=events, customers=customers, seed=2026, recent=True,
                          invalid_fraction=0.004)
    lines = list(generate_line_bytes(cfg))
    console.rule("[bold]journey-stitcher demo")
    console.print(f"generated {len(lines)} interactions of {customers} people over the last "
                  f"two days (web, app, chat, e-mail, SMS, phone, stores, couriers, ...)")
    await ensure_topics(bootstrap, [names[t] for t in ("interactions", "journeys", "handoffs",
                                                       "identities", "dlq")], 8)
    log = Path(".local") / f"{run}-worker.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("wb") as sink:
        command = [sys.executable, "-m", "journey_stitcher", "worker"]
        worker = subprocess.Popen(  # noqa: ASYNC220 - started once and left running
            command, env=worker_environment(run, bootstrap, redis_url, pepper=DEMO_PEPPER), stdout=sink,
            stderr=subprocess.STDOUT)
        try:
            started = time.monotonic()
            keys = PartitionKeys(config, DEMO_PEPPER.encode())
            report = await publish_lines(lines, bootstrap=bootstrap,
                                         topic=names["interactions"], keys=keys)
            console.print(f"published {report.sent} interactions to {names['interactions']} "
                          f"(8 partitions); worker running (log: {log})")
            await _caught_up(bootstrap, run, [names["interactions"], names["resolved"]], 300)
            console.print(f"worker caught up in {time.monotonic() - started:.1f}s")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    outputs = await _read_all(bootstrap, [names[t] for t in
                                          ("journeys", "handoffs", "identities", "dlq")])
    render(outputs, names)


def render(outputs: list[tuple[str, dict[str, Any]]], names: dict[str, str]) -> None:
    """The summary a person reads."""
    events = [e for topic, e in outputs if topic != names["dlq"]]
    rejected = sum(1 for topic, _ in outputs if topic == names["dlq"])
    kinds = Counter(e["type"] for e in events)
    merged_into = {e["data"]["merged_id"]: e["data"]["survivor_id"]
                   for e in events if e["type"] == "identity.merged"}

    def final(customer: str) -> str:
        while customer in merged_into:
            customer = merged_into[customer]
        return customer

    placed = [e for e in events if e["type"] in ("journey.started", "journey.continued")]
    handoffs = [e for e in events if e["type"] == "journey.handoff"]
    table = Table(title="What the worker found", show_header=False)
    for label, value in [
        ("customers", len({final(e["subject"]) for e in placed})),
        ("journeys", kinds["journey.started"]),
        ("touchpoints continuing a journey", kinds["journey.continued"]),
        ("handoffs: channel switch", sum(h["data"]["kind"] == "channel_switch" for h in handoffs)),
        ("handoffs: device switch", sum(h["data"]["kind"] == "device_switch" for h in handoffs)),
        ("journeys completed", kinds["journey.completed"]),
        ("journeys abandoned", kinds["journey.abandoned"]),
        ("profiles merged", kinds["identity.merged"]),
        ("identity conflicts refused", kinds["identity.conflict"]),
        ("rejected to the dead-letter topic", rejected),
    ]:
        table.add_row(label, str(value))
    console.print(table)
    console.print(_matrix(handoffs))
    by_journey: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["type"].startswith("journey.") and event["type"] != "journey.abandoned":
            by_journey[event["data"]["journey_id"]].append(event)
    for journey_id, journey in _examples(by_journey)[:2]:
        console.print(_timeline(journey_id, journey))


def _examples(by_journey: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Readable journeys first: a few touchpoints over several channels, a goal reached."""

    def score(item: tuple[str, list[dict[str, Any]]]) -> tuple[int, int, int, str]:
        journey_id, events = item
        touches = sum(e["type"] in ("journey.started", "journey.continued") for e in events)
        channels = len({e["data"]["channel"] for e in events})
        completed = any(e["type"] == "journey.completed" for e in events)
        return (not 4 <= touches <= 10, -min(channels, 4), -completed, journey_id)

    return sorted(by_journey.items(), key=score)


def _matrix(handoffs: list[dict[str, Any]]) -> Table:
    pairs = Counter((h["data"]["from"]["channel"], h["data"]["to"]["channel"])
                    for h in handoffs if h["data"]["kind"] == "channel_switch")
    channels = sorted({c for pair in pairs for c in pair})
    table = Table(title="Channel handoffs (from → to)")
    table.add_column("from \\ to")
    for channel in channels:
        table.add_column(channel, justify="right")
    for source in channels:
        table.add_row(source, *[str(pairs.get((source, to), "")) for to in channels])
    return table


def _timeline(journey_id: str, journey: list[dict[str, Any]]) -> Table:
    placed = sorted((e for e in journey if e["type"] in ("journey.started", "journey.continued")),
                    key=lambda e: e["data"]["occurred_at"])
    switches = {e["data"]["to"]["event_id"]: e["data"]["kind"] for e in journey
                if e["type"] == "journey.handoff"}
    completed = {e["data"]["event_id"] for e in journey if e["type"] == "journey.completed"}
    first = placed[0]["data"]
    table = Table(title=f"Journey {journey_id} ({first['family']}) of customer "
                        f"{placed[0]['subject']}")
    for column in ("when (UTC)", "channel", "touchpoint", "refs", ""):
        table.add_column(column)
    for event in placed:
        data = event["data"]
        note = switches.get(data["event_id"], "").replace("_", " ")
        if data["event_id"] in completed:
            note = (note + ", " if note else "") + "goal completed"
        refs = ", ".join(f"{k}={v}" for k, v in sorted(data["refs"].items()))
        table.add_row(data["occurred_at"][:19].replace("T", " "), data["channel"],
                      data["touchpoint"], refs, note)
    return table
