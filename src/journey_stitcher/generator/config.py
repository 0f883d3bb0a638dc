"""Parameters of a generated traffic sample."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 11, 2, tzinfo=UTC)
"""Start of the generated period unless told otherwise (a Monday)."""

DEFAULT_DAYS = 30.0
RECENT_DAYS = 2.0
RECENT_MARGIN = timedelta(minutes=5)
"""In recent mode the last event happens this long before "now"."""


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """What to generate; the same configuration always gives byte-identical output.

    `customers` is the size of the population activity is drawn from (Zipf-skewed, so fewer
    people actually appear). In `recent` mode the events span the last `days` (at most
    2) up to `now` minus a few minutes; pin `now` to make such a run reproducible.
    """

    events: int = 10_000
    customers: int = 1_000
    seed: int = 0
    start: datetime = DEFAULT_START
    recent: bool = False
    now: datetime | None = None
    days: float | None = None
    zipf_s: float = 1.1
    late_fraction: float = 0.02
    conflict_free: bool = False
    anonymous_fraction: float = 0.08
    consent_refusal_fraction: float = 0.005
    invalid_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.events < 0:
            raise ValueError("events must be >= 0")
        if self.customers < 1:
            raise ValueError("customers must be >= 1")
        if self.zipf_s < 0:
            raise ValueError("zipf_s must be >= 0")
        if self.days is not None and self.days <= 0:
            raise ValueError("days must be > 0")
        for name in ("late_fraction", "anonymous_fraction", "consent_refusal_fraction",
                     "invalid_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        for name in ("start", "now"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")

    def span(self) -> tuple[datetime, datetime]:
        """The first and last possible event time."""
        if self.recent:
            days = min(self.days or RECENT_DAYS, RECENT_DAYS)
            end = (self.now or datetime.now(UTC)) - RECENT_MARGIN
            return end - timedelta(days=days), end
        return self.start, self.start + timedelta(days=self.days or DEFAULT_DAYS)
