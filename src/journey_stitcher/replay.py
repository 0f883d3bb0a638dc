"""`journey-stitcher replay`: the stitching core offline over JSON Lines (SPEC §10)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

import orjson

from journey_stitcher.errors import InvalidInput
from journey_stitcher.stitcher import Stitcher


@dataclass(slots=True)
class ReplaySummary:
    """What a replay read, accepted, rejected and emitted."""

    lines: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    outputs: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def render(self, stitcher: Stitcher) -> str:
        """A short human-readable report for stderr."""
        rate = self.lines / self.seconds if self.seconds > 0 else 0.0
        rejected = ", ".join(f"{reason} {count}" for reason, count in sorted(self.rejected.items()))
        emitted = ", ".join(f"{kind} {count}" for kind, count in sorted(self.outputs.items()))
        profiles = stitcher.identities
        customers = getattr(profiles, "profiles", None)
        live = sum(1 for p in customers.values() if p.merged_into is None) if customers else 0
        return "\n".join([
            f"replay: {self.lines} lines in {self.seconds:.2f}s ({rate:,.0f} lines/s)",
            f"  accepted {self.accepted}, rejected {sum(self.rejected.values())}"
            + (f" ({rejected})" if rejected else ""),
            f"  outputs {sum(self.outputs.values())}" + (f" ({emitted})" if emitted else ""),
            f"  customers {live}, identifiers dropped as blocked or unusable "
            f"{stitcher.dropped_identifiers}",
        ])


def _json_line(value: object) -> bytes:
    return orjson.dumps(value) + b"\n"


def replay(
    stitcher: Stitcher, lines: Iterable[bytes], output: BinaryIO, dlq: BinaryIO | None,
    until: datetime | None = None,
) -> ReplaySummary:
    """Run every line through `stitcher`, writing outputs (and rejections) as JSON Lines."""
    summary = ReplaySummary()
    started = time.perf_counter()
    write = output.write
    for number, raw in enumerate(lines, start=1):
        summary.lines = number
        try:
            emitted = stitcher.process_line(raw.rstrip(b"\r\n"))
        except InvalidInput as rejection:
            summary.rejected[rejection.reason] += 1
            if dlq is not None:
                dlq.write(_json_line({"line": number, "reason": rejection.reason,
                                      "message": rejection.message}))
            continue
        summary.accepted += 1
        for event in emitted:
            summary.outputs[event["type"]] += 1
            write(_json_line(event))
    if until is not None:
        for event in stitcher.advance(until):
            summary.outputs[event["type"]] += 1
            write(_json_line(event))
    summary.seconds = time.perf_counter() - started
    return summary
