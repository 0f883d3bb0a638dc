"""The worker hands the C heap's free pages back to the system (`ops.heap`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from journey_stitcher.config import load_config
from journey_stitcher.ops import heap
from journey_stitcher.ops.heap import HeapTrimmer
from journey_stitcher.settings import Settings
from journey_stitcher.worker.app import create_app

MIB = 2**20


def _resident() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_trimming_returns_the_holes_left_below_live_memory() -> None:
    trimmer = HeapTrimmer()
    assert trimmer.available, "the worker's platforms (Debian images) have glibc's malloc_trim"
    # Mid-sized buffers live in the C heap (below glibc's mmap threshold); one still in use
    # above them keeps free() from giving their pages back on its own.
    blocks = [bytearray(64 * 1024) for _ in range(1600)]
    pin = bytearray(64 * 1024)
    del blocks
    held = _resident()
    assert trimmer.trim()
    assert held - _resident() > 50 * MIB
    assert (trimmer.trims, trimmer.released) == (1, 1)
    del pin


def test_trims_are_counted_and_only_releases_count_as_such() -> None:
    answers = iter([1, 0])
    calls: list[int] = []

    def malloc_trim(pad: int) -> int:
        calls.append(pad)
        return next(answers)

    trimmer = HeapTrimmer(malloc_trim)
    assert trimmer.trim() is True
    assert trimmer.trim() is False
    assert calls == [0, 0]  # no padding kept at the top of the heap
    assert (trimmer.trims, trimmer.released) == (2, 1)


def test_without_glibc_trimming_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_glibc_malloc_trim", lambda: None)
    trimmer = HeapTrimmer()
    assert not trimmer.available
    assert trimmer.trim() is False
    assert trimmer.trims == 0


def test_the_worker_trims_on_a_timer_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNEY_STITCHER_HEAP_TRIM_SECONDS", raising=False)
    trimming = create_app(Settings(), load_config(None), b"pepper")
    monkeypatch.setenv("JOURNEY_STITCHER_HEAP_TRIM_SECONDS", "0")
    never = create_app(Settings(), load_config(None), b"pepper")
    assert Settings().heap_trim_seconds == 0
    assert len(trimming._app_tasks) == len(never._app_tasks) + 1
