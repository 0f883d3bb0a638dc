"""Fast RFC 3339 formatting of millisecond timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS: dict[int, str] = {}
_ZONES: dict[int, str] = {0: "Z"}


def to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch of a timezone-aware datetime."""
    return round(moment.timestamp() * 1000)


def _day(day: int) -> str:
    """`YYYY-MM-DDT` of a day since the epoch (cached)."""
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
    return text


def _zone(offset_minutes: int) -> str:
    zone = _ZONES.get(offset_minutes)
    if zone is None:
        sign = "+" if offset_minutes > 0 else "-"
        zone = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
        _ZONES[offset_minutes] = zone
    return zone


def _clock(second: int) -> str:
    """`HH:MM:SS.` of a second of the day (cached)."""
    text = _CLOCK[second]
    if not text:
        minutes, seconds = divmod(second, 60)
        text = _CLOCK[second] = f"{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}."
    return text


_CLOCK: list[str] = [""] * 86_400
_MILLIS: tuple[str, ...] = tuple(f"{millis:03d}" for millis in range(1000))


def rfc3339(t_ms: int, offset_minutes: int = 0) -> str:
    """`t_ms` as RFC 3339 with milliseconds, `Z` for UTC or a `+hh:mm` local offset."""
    day, millis = divmod(t_ms + offset_minutes * MINUTE_MS, DAY_MS)
    second, millis = divmod(millis, 1000)
    return _day(day) + _clock(second) + _MILLIS[millis] + _zone(offset_minutes)
