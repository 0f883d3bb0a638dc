"""The interaction event of SPEC §3, as the core sees it once parsed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from journey_stitcher.outputs import rfc3339

Outcome = Literal["started", "completed", "failed", "abandoned"]
OUTCOMES: frozenset[str] = frozenset({"started", "completed", "failed", "abandoned"})


@dataclass(slots=True)
class Identifier:
    """Who the interaction is about, as the channel reported it (not yet normalized)."""

    type: str
    value: str
    verified: bool = False


@dataclass(slots=True)
class Device:
    """The device used for the interaction."""

    id: str
    type: str | None = None


@dataclass(slots=True)
class Interaction:  # not frozen: building frozen dataclasses costs ~3 µs an event
    """One validated interaction event; `occurred_at` is timezone-aware and in UTC."""

    event_id: str
    occurred_at: datetime
    channel: str
    touchpoint: str
    identifiers: tuple[Identifier, ...] = ()
    refs: Mapping[str, str] = field(default_factory=dict)
    outcome: Outcome | None = None
    device: Device | None = None
    session_id: str | None = None
    source: str | None = None
    consent_stitching: bool = True
    attributes: Mapping[str, Any] | None = None
    # Set instead of rejecting when configuration turns the capability check into a flag (§7.7).
    capability_violation: bool = False
    # `occurred_at` as outputs write it: the input's own text when it is in UTC (`…Z`), so
    # `time` is exactly the interaction's `occurred_at`; otherwise converted to UTC.
    occurred_at_text: str = ""

    @property
    def at(self) -> str:
        return self.occurred_at_text or rfc3339(self.occurred_at)
