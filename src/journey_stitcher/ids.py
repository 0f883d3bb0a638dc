"""Deterministic identifiers and keyed hashing (SPEC §6.9, §7.8).

Every id the product emits is derived from the input, so the same input gives the same
customer, journey and CloudEvent ids in `replay` and in the worker, run after run.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

_SEPARATOR = b"\x1f"  # unit separator: cannot occur in the parts' text by accident


def _digest(parts: tuple[str, ...], size: int) -> str:
    data = _SEPARATOR.join(part.encode() for part in parts)
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def customer_id(creating_event_id: str) -> str:
    """The id of the profile first created by interaction `creating_event_id`."""
    return "cus_" + _digest(("customer", creating_event_id), 12)


def isolated_customer_id(key: str) -> str:
    """The profile of consent-refusing events keyed by one identifier (§6.8)."""
    return "cus_" + _digest(("isolated", key), 12)


def journey_id(creating_event_id: str) -> str:
    """The id of the journey opened by interaction `creating_event_id`."""
    return "jrn_" + _digest(("journey", creating_event_id), 12)


def cloudevent_id(event_type: str, *parts: str) -> str:
    """The CloudEvent id of an output: its type plus what makes it unique."""
    return _digest((event_type, *parts), 16)


class Hasher:
    """Keyed hashing of identifier values: HMAC-SHA256 with a secret pepper."""

    __slots__ = ("_cached", "_pepper")

    def __init__(self, pepper: bytes | None) -> None:
        self._pepper = pepper
        self._cached = lru_cache(maxsize=65_536)(self._hash)

    @property
    def enabled(self) -> bool:
        return self._pepper is not None

    def __call__(self, kind: str, value: str) -> str:
        """The stored form of `value` of identifier type `kind` (the value itself when off)."""
        if self._pepper is None:
            return value
        return self._cached(kind, value)

    def _hash(self, kind: str, value: str) -> str:
        assert self._pepper is not None
        mac = hmac.new(self._pepper, kind.encode() + b":" + value.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]
