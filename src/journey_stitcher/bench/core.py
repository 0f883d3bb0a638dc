"""`make bench-core`: events/s of the stitching core as `replay` runs it, on one core.

Reads the whole input into memory first (the clock starts after), then replays it with a
fresh in-memory stitcher per run, serializing every output to a null sink.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import BinaryIO, cast

from journey_stitcher.config import load_config
from journey_stitcher.replay import replay
from journey_stitcher.stitcher import Stitcher


class _Null:
    """A binary sink that only counts bytes."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    lines = args.input.read_bytes().splitlines()
    config = load_config(None)
    rates = []
    for run in range(1, args.runs + 1):
        sink = _Null()
        stitcher = Stitcher(config, b"bench-pepper")
        started = time.perf_counter()
        summary = replay(stitcher, lines, cast(BinaryIO, sink), None)
        seconds = time.perf_counter() - started
        rates.append(len(lines) / seconds)
        print(f"run {run}: {len(lines)} events in {seconds:.2f}s = {rates[-1]:,.0f} events/s "
              f"({sum(summary.outputs.values())} outputs, {sink.bytes / 1e6:.0f} MB)",
              file=sys.stderr)
    print(f"bench-core: median {statistics.median(rates):,.0f} events/s over {args.runs} runs "
          f"of {len(lines)} events (replay, in-memory store, one core)")


if __name__ == "__main__":
    main()
