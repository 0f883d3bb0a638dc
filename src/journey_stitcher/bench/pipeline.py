"""`make bench`: the streaming worker end to end on the local Kafka and Redis.

The generated input (cached under `.cache/bench/`) is published once, before any clock starts,
to an 8-partition topic that every variant reads with its own consumer group, internal and
output topics and Redis prefix. Throughput of a variant = input events / (first output
acknowledged → the group's committed offsets reach the end of both the input and the re-keyed
topic, `ops.lag.consumer_lag`); and its steady pace, which the ratios use: events placed per
second between 10 % and 90 % of the input (committed offsets of the re-keyed topic, polled each
second), free of the start (work done before the first output) and of the tail. Variants, in
this order:

* `bare`: Faust alone, same topology and batching (`bench.passthrough`), no parsing, no Redis;
* `naive`: `bench.naive` on a prefix of the input (and the stitcher on the same prefix, for the
  ratio): the same wiring and rules, but each interaction on its own with one awaited Redis call
  per key read and per key written;
* `two_workers`: two worker processes in one group;
* `stitcher`: one worker process; then Redis memory, and, on the same (now idle) worker, the
  latency phase: a paced producer at half the measured rate for a fixed time, each input's
  publish time against the arrival of its first `journey.*`/handoff output (`data.event_id`);
  with `bare` among the phases, the same paced input then goes through a fresh bare
  pass-through (`bare_latency`): the floor that Faust, Kafka and the two hops set.

Prints the JSON report (also written to `--report`) and a short table. Never asserts speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import math
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from journey_stitcher.bench.procstat import CpuMeter, census, peak_rss_bytes, service_pids, used_memory
from journey_stitcher.config import load_config
from journey_stitcher.generator import GeneratorConfig, generate_line_bytes
from journey_stitcher.isolation import worker_environment
from journey_stitcher.kafka import ensure_topics
from journey_stitcher.ops.lag import PartitionLag, consumer_lag
from journey_stitcher.publishing import PartitionKeys, publish_lines
from journey_stitcher.replay import replay
from journey_stitcher.stitcher import Stitcher
from journey_stitcher.testing.services import find_repo_root, service_endpoints

PEPPER = "bench-pepper"
LOGICAL = ("resolved", "journeys", "handoffs", "identities", "dlq")
NAIVE_VARIANT = ("bench.naive: the worker's wiring and rules, each interaction on its own, one awaited "
                 "Redis call per key read (GET/HGET/HGETALL) and per key written (SET/HSET/ZADD…), "
                 "no pipelining, no WATCH/MULTI")


@dataclass(frozen=True)
class Variant:
    """One isolated installation reading a shared input topic."""

    bootstrap: str
    redis_url: str
    input_topic: str
    partitions: int
    name: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:10]}")

    def topic(self, logical: str) -> str:
        return f"{self.name}.{logical}"

    def env(self, **extra: str) -> dict[str, str]:
        return worker_environment(self.name, self.bootstrap, self.redis_url, pepper=PEPPER,
                                  partitions=self.partitions,
                                  topics={"interactions": self.input_topic}, **extra)


class Process:
    """A worker-like subprocess (`python -m MODULE [ARGS]`) logging to a file."""

    def __init__(self, variant: Variant, log: Path, module: str, *args: str, **env: str) -> None:
        self._log = log.open("ab")
        self.popen = subprocess.Popen([sys.executable, "-m", module, *args], env=variant.env(**env),
                                      stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        try:
            if self.alive():
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)
        finally:
            self._log.close()


# -- input ---------------------------------------------------------------------------------


def input_file(cache: Path, events: int, customers: int, seed: int) -> Path:
    """The generated input (`recent`, ending before the current hour), cached for that hour."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    stem = f"stream-{events}-{customers}-s{seed}"
    path = cache / f"{stem}-{hour:%Y%m%d%H}.jsonl"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob(f"{stem}-*.jsonl"):
        stale.unlink()
    config = GeneratorConfig(events=events, customers=customers, seed=seed, recent=True, now=hour)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        for line in generate_line_bytes(config):
            out.write(line + b"\n")
    partial.rename(path)
    return path


async def publish(bootstrap: str, topic: str, partitions: int, lines: Iterable[bytes]) -> int:
    await ensure_topics(bootstrap, [topic], partitions)
    keys = PartitionKeys(load_config(None), PEPPER.encode())
    report = await publish_lines(lines, bootstrap=bootstrap, topic=topic, keys=keys)
    return report.sent


# -- throughput ----------------------------------------------------------------------------


@dataclass
class Running:
    """Started processes of one variant, and when their first output was acknowledged."""

    variant: Variant
    processes: list[Process]
    events: int
    started: float = 0.0
    meter: CpuMeter | None = None


async def _end_offsets(probe: AIOKafkaConsumer, topic: str, partitions: int) -> int:
    ends = await probe.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    return int(sum(ends.values()))


async def start_variant(
    variant: Variant, logs: Path, count: int, events: int, module: str, services: dict[str, int],
    timeout: float, **env: str,
) -> Running:
    """Start `count` processes of `module` and wait for the first acknowledged output."""
    await ensure_topics(variant.bootstrap, [variant.topic(t) for t in LOGICAL if t != "resolved"],
                        variant.partitions)
    args = ("worker",) if module == "journey_stitcher" else ()
    processes = [Process(variant, logs / f"{variant.name}-{i}.log", module, *args, **env)
                 for i in range(count)]
    running = Running(variant, processes, events)
    probe = AIOKafkaConsumer(bootstrap_servers=variant.bootstrap, enable_auto_commit=False)
    await probe.start()
    try:
        deadline = time.monotonic() + timeout
        while await _end_offsets(probe, variant.topic("journeys"), variant.partitions) == 0:
            _check(running, deadline, "no output")
            await asyncio.sleep(0.1)  # polling the output topic's end offsets, with a deadline
    finally:
        await probe.stop()
    running.started = time.monotonic()
    pids = dict(services)
    pids.update({f"worker{i}": p.pid for i, p in enumerate(processes)})
    running.meter = CpuMeter(pids)
    return running


def _check(running: Running, deadline: float, what: str) -> None:
    dead = [p for p in running.processes if not p.alive()]
    if dead:
        raise RuntimeError(f"{running.variant.name}: a process exited (code "
                           f"{dead[0].popen.returncode}); see its log")
    if time.monotonic() > deadline:
        raise TimeoutError(f"{running.variant.name}: {what} before the deadline")


LAG_PROBE_FAILURES = 30  # in a row (one probe a second) before a run is given up


async def _lag_sample(variant: Variant, topics: list[str],
                      failing: list[BaseException]) -> list[PartitionLag] | None:
    """The group's lag, or None when the broker did not answer in time: a busy broker on a
    2-core machine sometimes takes longer than the probe's 5 s, and one missed sample must not
    end an hour-long run. Thirty failures in a row do."""
    try:
        lags = await consumer_lag(variant.bootstrap, variant.name, topics)
    except (TimeoutError, KafkaError) as error:
        failing.append(error)
        print(f"{variant.name}: lag probe failed ({type(error).__name__}), "
              f"{len(failing)} in a row", file=sys.stderr, flush=True)
        if len(failing) >= LAG_PROBE_FAILURES:
            raise RuntimeError(f"{variant.name}: the broker did not answer "
                               f"{LAG_PROBE_FAILURES} lag probes in a row") from error
        return None
    failing.clear()
    return lags


async def drain(running: Running, timeout: float) -> dict[str, Any]:
    """Wait until the group's lag is 0 on the input and the re-keyed topic; the figures."""
    variant = running.variant
    group_topics = [variant.input_topic, variant.topic("resolved")]
    probe = AIOKafkaConsumer(bootstrap_servers=variant.bootstrap, enable_auto_commit=False)
    await probe.start()
    outputs, last_output = 0, running.started
    next_lag = 0.0
    samples: list[tuple[float, int]] = []  # (seconds, interactions through the journey stage)
    deadline = time.monotonic() + timeout
    failing: list[BaseException] = []  # lag probes failed in a row
    try:
        while True:
            _check(running, deadline, "lag never reached 0")
            now = time.monotonic()
            total = await _end_offsets(probe, variant.topic("journeys"), variant.partitions)
            if total > outputs:
                outputs, last_output = total, now
            if now >= next_lag:
                next_lag = now + 1.0
                lags = await _lag_sample(variant, group_topics, failing)
                if lags is None:
                    continue
                consumed = sum(lag.committed or 0 for lag in lags if lag.topic == variant.input_topic)
                placed = sum(lag.committed or 0 for lag in lags if lag.topic == group_topics[1])
                samples.append((now - running.started, placed))
                has_resolved = any(lag.topic == group_topics[1] for lag in lags)
                if has_resolved and consumed >= running.events and all(lag.lag == 0 for lag in lags):
                    break
            await asyncio.sleep(0.25)  # polling offsets, with a deadline
    finally:
        await probe.stop()
    seconds = time.monotonic() - running.started
    assert running.meter is not None
    cpu = running.meter.stop(seconds)
    return {
        "processes": len(running.processes),
        "events": running.events,
        "seconds": round(seconds, 3),
        "events_per_s": round(running.events / seconds, 1),
        "events_per_s_to_last_output": round(running.events / max(last_output - running.started, 1e-3), 1),
        "steady_events_per_s": steady_rate(samples, running.events),
        "journey_outputs": outputs,
        # committed offsets of the re-keyed topic, every ~10 s: how the pace changes as
        # customers' state grows
        "progress": thinned(samples, 10.0),
        "peak_rss_bytes": max(peak_rss_bytes(p.pid) or 0 for p in running.processes),
        "cpu": cpu,
    }


def profiler(folder: Path, pid: int) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` until interrupted: a flame graph and collapsed stacks (`raw`)."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--rate", "50", "--format", "raw",
                             "--output", str(folder / "stitcher.collapsed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(running: Running) -> None:
    for process in running.processes:
        process.stop()


async def throughput(
    variant: Variant, logs: Path, events: int, module: str, services: dict[str, int],
    timeout: float, env: dict[str, str], count: int = 1,
) -> dict[str, Any]:
    running = await start_variant(variant, logs, count, events, module, services, timeout, **env)
    try:
        return await drain(running, timeout)
    finally:
        stop(running)


# -- latency -------------------------------------------------------------------------------


def _triggering_event(value: bytes) -> str | None:
    """The interaction an output (or the bare pass-through's copy of it) was emitted for."""
    document = orjson.loads(value)
    data = document.get("data", document)
    found = data.get("event_id") or (data.get("to") or {}).get("event_id")
    return str(found) if found else None


def _rekeyed_event(value: bytes) -> str:
    document = orjson.loads(value)
    return str(document.get("e", document)["event_id"])


async def latency(
    variant: Variant, lines: list[bytes], rate: float, seconds: float, settle: float,
    expected_all: set[str] | None = None,
) -> dict[str, Any]:
    """Publish `lines` at `rate`/s to the (running, idle) variant; publish → first output of
    each line that has one (`expected_all`, default: those `replay` gives a journey output)."""
    keys = PartitionKeys(load_config(None), PEPPER.encode())
    prepared = [(line, keys(line), str(orjson.loads(line)["event_id"])) for line in lines]
    if expected_all is None:
        expected_all = _with_journey_output(lines)
    rekeyed_topic = variant.topic("resolved")
    topics = [variant.topic("journeys"), variant.topic("handoffs"), rekeyed_topic]
    consumer = AIOKafkaConsumer(bootstrap_servers=variant.bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=10, auto_offset_reset="latest")
    await consumer.start()
    consumer.assign([TopicPartition(t, p) for t in topics for p in range(variant.partitions)])
    await consumer.seek_to_end()
    for tp in consumer.assignment():  # resolve the end offsets now, before publishing
        await consumer.position(tp)
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    rekeyed: dict[str, float] = {}  # the identity stage's re-keyed record became visible
    publishing = True

    expected: set[str] = set()

    async def collect() -> None:
        while publishing or not expected <= arrived.keys():
            batch = await consumer.getmany(timeout_ms=20)
            now = time.time()
            for tp, messages in batch.items():
                for message in messages:
                    if tp.topic == rekeyed_topic:
                        rekeyed.setdefault(_rekeyed_event(message.value), now)
                        continue
                    event_id = _triggering_event(message.value)
                    if event_id in sent and event_id not in arrived:
                        arrived[event_id] = now

    producer = AIOKafkaProducer(bootstrap_servers=variant.bootstrap, acks="all", linger_ms=0,
                                enable_idempotence=True)
    await producer.start()
    collector = asyncio.create_task(collect())
    try:
        pending = []
        started = time.monotonic()
        stamp = 0
        for i, (line, key, event_id) in enumerate(prepared):
            due = started + i / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())  # pacing the producer
            if time.monotonic() - started >= seconds:
                break
            stamp = max(int(time.time() * 1000), stamp + 1)
            sent[event_id] = time.time()
            pending.append(await producer.send(variant.input_topic, line, key=key, timestamp_ms=stamp))
        await asyncio.gather(*pending)
        published_for = time.monotonic() - started
        expected = expected_all & sent.keys()
        publishing = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(collector), timeout=settle)
    finally:
        publishing = False
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        await producer.stop()
        await consumer.stop()
    millis = sorted((arrived[e] - sent[e]) * 1000 for e in arrived)
    first_stage = sorted((rekeyed[e] - sent[e]) * 1000 for e in arrived if e in rekeyed)
    return {
        "target_rate": round(rate, 1),
        "achieved_rate": round(len(sent) / published_for, 1),
        "seconds": round(published_for, 2),
        "published": len(sent),
        "expected_outputs": len(expected),
        "matched": len(millis),
        "missing": len(expected - arrived.keys()),
        "p50_ms": _percentile(millis, 50),
        "p95_ms": _percentile(millis, 95),
        "p99_ms": _percentile(millis, 99),
        "max_ms": round(millis[-1], 1) if millis else 0.0,
        # publish → re-keyed record visible: the identity stage's share (same events)
        "identity_stage_p50_ms": _percentile(first_stage, 50),
        "identity_stage_p99_ms": _percentile(first_stage, 99),
    }


async def bare_latency(
    variant: Variant, logs: Path, lines: list[bytes], rate: float, args: argparse.Namespace,
    services: dict[str, int], env: dict[str, str],
) -> dict[str, Any]:
    """`latency` of the bare pass-through, started on an input topic holding one warm-up line
    (its output tells that the pass-through is assigned and running)."""
    await publish(variant.bootstrap, variant.input_topic, variant.partitions, lines[-1:])
    running = await start_variant(variant, logs, 1, 1, "journey_stitcher.bench.passthrough",
                                  services, args.timeout, **env)
    try:
        body = lines[:-1]
        expected = {str(orjson.loads(line)["event_id"]) for line in body}
        return await latency(variant, body, rate, args.latency_seconds, args.latency_settle, expected)
    finally:
        stop(running)


def _with_journey_output(lines: list[bytes]) -> set[str]:
    """The event ids among `lines` that produce a `journey.*`/handoff output (`replay`); the
    others (e.g. `identify` touchpoints) have no output to time."""
    out = io.BytesIO()
    replay(Stitcher(load_config(None), PEPPER.encode()), lines, out, None)
    found = {_triggering_event(line) for line in out.getvalue().splitlines()
             if not orjson.loads(line)["type"].startswith("identity.")}
    return {event_id for event_id in found if event_id}


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(0, math.ceil(q / 100 * len(sorted_values)) - 1)
    return round(sorted_values[rank], 1)


# -- the run -------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap, redis_url = (args.bootstrap, args.redis_url) if args.bootstrap and args.redis_url \
        else service_endpoints()
    root = find_repo_root()
    services = service_pids(root)
    logs = args.logs
    logs.mkdir(parents=True, exist_ok=True)

    path = input_file(args.cache, args.events, args.customers, args.seed)
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    run_id = uuid.uuid4().hex[:8]
    shared = f"bench-{run_id}.interactions"
    naive_input = f"bench-{run_id}.naive-interactions"
    floor_input = f"bench-{run_id}.bare-latency-interactions"
    naive_lines = lines[:min(args.naive_events, len(lines))]
    began = time.monotonic()
    sent = await publish(bootstrap, shared, args.partitions, lines)
    publish_seconds = time.monotonic() - began
    await publish(bootstrap, naive_input, args.partitions, naive_lines)

    def variant(topic: str = shared) -> Variant:
        return Variant(bootstrap, redis_url, topic, args.partitions, f"bench-{run_id}-{uuid.uuid4().hex[:6]}")

    variants: list[Variant] = []
    worker = "journey_stitcher"
    env = {"JOURNEY_STITCHER_ABANDONMENT_INTERVAL_SECONDS": "5"}
    phases = set(args.phases)
    bare = naive = on_prefix = two = one = lat = bare_lat = None
    memory_before = memory_after = final_rss = 0
    keys = None
    redis = Redis.from_url(redis_url)
    try:
        if "bare" in phases:
            variants.append(bare_v := variant())
            bare = await throughput(bare_v, logs, sent, "journey_stitcher.bench.passthrough", services,
                                    args.timeout, env)
        if "naive" in phases:
            variants.append(naive_v := variant(naive_input))
            naive = await throughput(naive_v, logs, len(naive_lines), "journey_stitcher.bench.naive",
                                     services, args.timeout, env)
            variants.append(prefix_v := variant(naive_input))
            on_prefix = await throughput(prefix_v, logs, len(naive_lines), worker, services,
                                         args.timeout, env)
        if "two" in phases:
            variants.append(two_v := variant())
            two = await throughput(two_v, logs, sent, worker, services, args.timeout, env, count=2)
        if "stitcher" in phases:
            variants.append(one_v := variant())
            memory_before = await used_memory(redis)
            running = await start_variant(one_v, logs, 1, sent, worker, services, args.timeout, **env)
            try:
                spy = profiler(args.profile, running.processes[0].pid) if args.profile else None
                one = await drain(running, args.timeout)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=120)
                memory_after = await used_memory(redis)
                keys = await census(redis, one_v.name)
                rate = args.latency_rate or pace(one) / 2
                extra = list(itertools.islice(generate_line_bytes(GeneratorConfig(
                    events=math.ceil(rate * args.latency_seconds) + 100, customers=args.customers,
                    seed=args.seed + 1, recent=True)), None))
                lat = await latency(one_v, extra, rate, args.latency_seconds, args.latency_settle)
                final_rss = peak_rss_bytes(running.processes[0].pid) or 0
            finally:
                stop(running)
            if "bare" in phases:
                variants.append(floor_v := variant(floor_input))
                bare_lat = await bare_latency(floor_v, logs, extra, rate, args, services, env)
    finally:
        if not args.keep:
            await cleanup(bootstrap, redis, [shared, naive_input, floor_input], variants)
        await redis.aclose()

    report: dict[str, Any] = {
        "config": {
            "events": len(lines), "customers_population": args.customers, "seed": args.seed,
            "partitions": args.partitions, "naive_events": len(naive_lines),
            "latency_seconds": args.latency_seconds, "phases": sorted(phases),
            "naive_variant": NAIVE_VARIANT,
            "bare_variant": "bench.passthrough: Faust consume → re-key → consume → produce, "
                            "same batching and acks, no parsing, no Redis",
            "input_file": str(path), "kafka": bootstrap,
            "measured": "first output acknowledged → committed offsets at the end of the input "
                        "and re-keyed topics (1 s lag polls; Faust commits every ~2.8 s)",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "input": {"published": sent, "publish_seconds": round(publish_seconds, 2),
                  "publish_events_per_s": round(sent / publish_seconds, 1)},
        "throughput": {
            "stitcher": one, "bare": bare, "naive": naive, "stitcher_on_naive_input": on_prefix,
            "stitcher_over_bare": _ratio(one, bare),
            # Same input for both: the stitcher's rate falls as customers' state grows.
            "stitcher_over_naive": _ratio(on_prefix, naive),
        },
        "latency": lat,
        # The same paced input through the bare pass-through, on a fresh topic: what Faust,
        # Kafka and the two hops alone take at the stitcher's latency rate.
        "bare_latency": bare_lat,
    }
    if one is not None and keys is not None:
        customers = keys.counts.get("customer_journeys", 0)
        delta = memory_after - memory_before
        report["memory"] = {
            "redis_used_memory_before": memory_before,
            "redis_used_memory_after": memory_after,
            "redis_used_memory_delta": delta,
            "customers": customers,
            "profiles": keys.counts.get("profile", 0),
            "redis_bytes_per_customer": round(delta / customers, 1) if customers else 0.0,
            "redis_sampled_bytes_per_customer":
                round(keys.estimated_total() / customers, 1) if customers else 0.0,
            "keys": {kind: {"count": keys.counts[kind], "mean_memory_usage": keys.mean_bytes.get(kind, 0.0)}
                     for kind in sorted(keys.counts)},
            "worker_peak_rss_bytes": one["peak_rss_bytes"],
            "worker_peak_rss_bytes_after_latency": final_rss,
        }
        report["services_cpu"] = {
            "during": "the one-worker stitcher throughput run",
            # None: the service is not a local-stack process of this checkout (no pid file).
            **{name: one["cpu"].get(name) for name in ("kafka", "redis", "worker0")},
        }
    if one is not None and two is not None:
        report["scale_out"] = {
            "one_worker_events_per_s": pace(one),
            "two_workers_events_per_s": pace(two),
            "ratio": _ratio(two, one),
            "two_workers": two,
        }
    report["targets"] = targets(report)
    return report


def steady_rate(samples: list[tuple[float, int]], events: int, low: float = 0.1,
                high: float = 0.9) -> float | None:
    """Events per second between the first samples at `low` and at `high` of `events` (None
    when the run was too short for two distinct samples in between)."""
    start = next(((t, n) for t, n in samples if n >= low * events), None)
    end = next(((t, n) for t, n in samples if n >= high * events), None)
    if start is None or end is None or end[0] <= start[0] or end[1] <= start[1]:
        return None
    return round((end[1] - start[1]) / (end[0] - start[0]), 1)


def thinned(samples: list[tuple[float, int]], every: float) -> list[list[float]]:
    """One sample per `every` seconds (and the last one)."""
    kept: list[list[float]] = []
    for t, n in samples:
        if not kept or t >= kept[-1][0] + every:
            kept.append([round(t, 1), n])
    if samples and kept[-1][0] != round(samples[-1][0], 1):
        kept.append([round(samples[-1][0], 1), samples[-1][1]])
    return kept


def pace(run: dict[str, Any]) -> float:
    """A run's steady pace, or its whole-run rate when it was too short to have one."""
    steady = run.get("steady_events_per_s")
    return float(steady if steady is not None else run["events_per_s"])


def _ratio(numerator: dict[str, Any] | None, denominator: dict[str, Any] | None) -> float | None:
    if numerator is None or denominator is None:
        return None
    return round(pace(numerator) / pace(denominator), 3)


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, for the phases that ran."""
    t, lat, mem = report["throughput"], report["latency"], report.get("memory")
    rows = [
        ("stitcher / bare", t["stitcher_over_bare"], ">=", 0.5),
        ("stitcher / naive", t["stitcher_over_naive"], ">=", 5.0),
        ("p99 ms at half load", lat["p99_ms"] if lat else None, "<=", 100.0),
        ("Redis bytes / customer", mem["redis_bytes_per_customer"] if mem else None, "<=", 1536.0),
        ("worker peak RSS MB", round(mem["worker_peak_rss_bytes"] / 2**20, 1) if mem else None,
         "<=", 300.0),
        ("two workers / one", report["scale_out"]["ratio"] if "scale_out" in report else None,
         ">=", 1.7),
    ]
    return [{"name": name, "value": value, "target": f"{op} {bound}",
             "met": value >= bound if op == ">=" else value <= bound}
            for name, value, op, bound in rows if value is not None]


async def cleanup(bootstrap: str, redis: Redis, inputs: list[str], variants: list[Variant]) -> None:
    """Delete the run's topics and Redis keys."""
    for v in variants:
        batch: list[bytes] = []
        async for key in redis.scan_iter(match=f"{v.name}:*", count=5000):
            batch.append(key)
            if len(batch) >= 1000:
                await redis.unlink(*batch)
                batch = []
        if batch:
            await redis.unlink(*batch)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [*inputs, *(v.topic(t) for v in variants for t in LOGICAL)]
        # Faust's internal topics are prefixed with the app id too.
        names += [name for name in existing for v in variants if name.startswith(v.name)]
        doomed = sorted(set(names) & existing)
        if doomed:
            with contextlib.suppress(Exception):  # best effort: a leftover topic is harmless
                await admin.delete_topics(doomed)
    finally:
        await admin.close()


def _rates(run: dict[str, Any]) -> str:
    """Whole-run rate, and the steady pace the ratios use."""
    steady = run.get("steady_events_per_s")
    return f"{run['events_per_s']:>14,.0f}" + (f"  (steady {steady:,.0f})" if steady else "")


def table(report: dict[str, Any]) -> str:
    t, lat = report["throughput"], report["latency"]
    cpu = report.get("services_cpu", {})
    lines = [f"input: {report['config']['events']:,} events, {report['config']['partitions']} partitions",
             f"{'figure':<34}{'value':>14}  target"]
    if t["stitcher"]:
        lines.append(f"{'stitcher events/s (1 worker)':<34}{_rates(t['stitcher'])}")
    if t["bare"]:
        lines.append(f"{'bare Faust events/s':<34}{_rates(t['bare'])}")
    if t["naive"]:
        lines.append(f"{'naive events/s':<34}{_rates(t['naive'])}"
                     f"  vs stitcher {pace(t['stitcher_on_naive_input']):,.0f} on the same "
                     f"{t['naive']['events']:,}")
    if report.get("scale_out"):
        lines.append(f"{'two workers events/s':<34}{_rates(report['scale_out']['two_workers'])}")
    if lat:
        lines.append(f"{'latency p50/p95 ms':<34}{lat['p50_ms']:>6.0f}/{lat['p95_ms']:<7.0f}"
                     f"  at {lat['achieved_rate']:,.0f}/s")
    floor = report.get("bare_latency")
    if floor:
        lines.append(f"{'bare latency p50/p95/p99 ms':<34}{floor['p50_ms']:>6.0f}/{floor['p95_ms']:.0f}"
                     f"/{floor['p99_ms']:.0f}  at {floor['achieved_rate']:,.0f}/s")
    for row in report["targets"]:
        mark = "ok" if row["met"] else "MISSED"
        lines.append(f"{row['name']:<34}{row['value']:>14,}  {row['target']} {mark}")
    for name in ("kafka", "redis", "worker0"):
        if cpu.get(name):
            lines.append(f"{'CPU cores: ' + name:<34}{cpu[name]['cores']:>14.2f}")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--naive-events", type=int, default=30_000,
                        help="prefix of the input the naive variant processes (it is slow)")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--latency-rate", type=float,
                        help="events/s of the latency phase (default: half the measured throughput)")
    parser.add_argument("--latency-settle", type=float, default=20.0,
                        help="how long to wait for the last outputs after publishing")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per variant")
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench"))
    parser.add_argument("--logs", type=Path, default=Path("bench-results/logs"))
    parser.add_argument("--report", type=Path, default=Path("bench-results/report.json"))
    parser.add_argument("--bootstrap", help="Kafka (default: KAFKA_BOOTSTRAP_SERVERS / local stack)")
    parser.add_argument("--redis-url", help="Redis (default: REDIS_URL / local stack)")
    parser.add_argument("--phases", type=lambda text: text.split(","),
                        default=["bare", "naive", "two", "stitcher"],
                        help="comma-separated subset of bare,naive,two,stitcher (default: all)")
    parser.add_argument("--profile", type=Path,
                        help="record the one-worker stitcher phase with py-spy into this folder")
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and Redis keys")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    report = asyncio.run(run(args))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    print(table(report))
    return report


if __name__ == "__main__":
    main()
