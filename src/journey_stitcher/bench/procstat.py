"""Process and Redis figures for `make bench`: CPU time, peak RSS, pid files, memory by key kind."""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` so far (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After "(comm)": state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_bytes(pid: int) -> int | None:
    """VmHWM of `pid` (its peak resident set), None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else None


def service_pids(root: Path) -> dict[str, int]:
    """The local stack's Kafka and Redis pids (`deploy/local/stack.sh` pid files), when alive."""
    pids: dict[str, int] = {}
    for name, pidfile in (("kafka", root / ".local/kafka/kafka.pid"),
                          ("redis", root / ".local/redis/redis.pid")):
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        if cpu_seconds(pid) is not None:
            pids[name] = pid
    return pids


class CpuMeter:
    """CPU seconds used by a set of processes between `__init__` and `stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def stop(self, seconds: float) -> dict[str, dict[str, float]]:
        """{name: {cpu_seconds, cores}} over a wall-clock interval of `seconds`."""
        result: dict[str, dict[str, float]] = {}
        for name, pid in self._pids.items():
            before, after = self._start[name], cpu_seconds(pid)
            if before is None or after is None:
                continue
            used = after - before
            result[name] = {"cpu_seconds": round(used, 2),
                            "cores": round(used / seconds, 3) if seconds > 0 else 0.0}
        return result


async def used_memory(redis: Redis) -> int:
    info: dict[str, Any] = await redis.info("memory")
    return int(info["used_memory"])


def key_kind(prefix: str, key: str) -> str:
    """The kind of a journey-stitcher key (`storage.redis_state.KeyLayout`)."""
    rest = key[len(prefix) + 1:]
    if rest.startswith("{idg}:"):
        return {"o": "identifier_owner", "p": "profile", "r": "event_records",
                "e": "event_record"}.get(rest[6:7], "other")
    if rest.endswith(":deadlines"):
        return "deadlines"
    if rest.endswith(":outbox"):
        return "outbox"
    if rest.endswith(":j"):
        return "customer_journeys"
    if rest.startswith("{") and ":x:" in rest:
        return "customer_outputs"
    return "other"


@dataclass(frozen=True, slots=True)
class KeyCensus:
    counts: dict[str, int]
    mean_bytes: dict[str, float]

    def estimated_total(self) -> int:
        return round(sum(self.counts[k] * self.mean_bytes.get(k, 0.0) for k in self.counts))


async def census(redis: Redis, prefix: str, samples: int = 200) -> KeyCensus:
    """Counts of every key under `prefix` by kind, and mean `MEMORY USAGE` of up to `samples`
    keys of each kind."""
    counts: Counter[str] = Counter()
    sampled: dict[str, list[str]] = defaultdict(list)
    async for raw in redis.scan_iter(match=f"{prefix}:*", count=5000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind = key_kind(prefix, key)
        counts[kind] += 1
        if len(sampled[kind]) < samples:
            sampled[kind].append(key)
    means: dict[str, float] = {}
    for kind, keys in sampled.items():
        sizes = [await redis.memory_usage(k) for k in keys]
        found = [s for s in sizes if s]
        means[kind] = round(sum(found) / len(found), 1) if found else 0.0
    return KeyCensus(dict(counts), means)
