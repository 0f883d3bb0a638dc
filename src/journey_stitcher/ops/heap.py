"""Gives the C heap's free pages back to the system.

Objects larger than 512 bytes (stored states, record values, encoded outputs) live in the C
heap, not in Python's small-object arenas. glibc returns free memory on its own only from the
top of the heap: the holes a batch leaves below a long-lived allocation stay resident, and
the heap's high-water mark rises as busy customers' states grow. `malloc_trim(0)` releases
every free page of every arena (glibc ≥ 2.8). Measured in the README ("End to end: make
bench")."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """`trim()` hands the C heap's free pages back; a no-op where glibc is absent."""

    def __init__(self, malloc_trim: Callable[[int], int] | None = None) -> None:
        self._malloc_trim = malloc_trim if malloc_trim is not None else _glibc_malloc_trim()
        self.trims = 0
        self.released = 0  # trims that gave memory back

    @property
    def available(self) -> bool:
        return self._malloc_trim is not None

    def trim(self) -> bool:
        """True when some memory went back to the system."""
        if self._malloc_trim is None:
            return False
        self.trims += 1
        released = bool(self._malloc_trim(0))
        self.released += released
        return released
