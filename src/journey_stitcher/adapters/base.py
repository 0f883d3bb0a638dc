"""What every adapter shares: the result types, the uniform entry point and pure helpers.

An adapter turns a vendor payload into interaction events of SPEC §3 (plain JSON-ready dicts,
the value of a Kafka record in `interactions`). It does no I/O and reads no clock: the time the
gateway received the payload is passed in as ``received_at``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeAlias

import orjson

from journey_stitcher.adapters.errors import (
    DUPLICATE_EVENT_ID,
    DUPLICATE_ITEM,
    INVALID_ENCODING,
    INVALID_FIELD,
    INVALID_JSON,
    INVALID_TIMESTAMP,
    AdapterError,
    Skip,
)

__all__ = [
    "Adapter",
    "AdapterResult",
    "Event",
    "Rejection",
    "Touch",
    "build_event",
    "collect",
    "epoch_datetime",
    "event_id",
    "hashed_event_id",
    "header",
    "identifier",
    "load_json",
    "opt_text",
    "parse_iso_datetime",
    "require_aware",
    "rfc3339",
    "scalar",
    "stable_hash",
]

Event: TypeAlias = dict[str, Any]
"""One interaction event of SPEC §3, ready for ``orjson.dumps``."""

MAX_EVENT_ID = 128


@dataclass(frozen=True, slots=True)
class Touch:
    """Where a vendor event lands in the catalog: a touchpoint and, when known, its outcome."""

    touchpoint: str
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one item (or, with ``index`` None, the whole body) produced no event.

    ``index`` is the 0-based position of the item in the batch as the adapter flattened it;
    ``item_id`` the vendor's own id of the item when it has one; ``item`` the item as parsed
    (for the dead-letter record; None when the body itself could not be parsed).
    """

    reason: str
    message: str
    index: int | None = None
    item_id: str | None = None
    field: str | None = None
    item: Any = dataclasses.field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class AdapterResult:
    """The per-item outcome of one payload: events, rejected items and skipped items.

    One bad item never sinks the others. ``rejected`` holds broken input (dead-letter it);
    ``skipped`` holds valid items that are deliberately not touchpoints (count them only).
    """

    events: list[Event] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: list[Rejection] = field(default_factory=list)

    @classmethod
    def failed(cls, error: AdapterError, item: Any = None) -> AdapterResult:
        """The result of a payload that is unusable as a whole."""
        return cls(rejected=[Rejection(error.reason, error.message, None, None, error.field, item)])


Adapter: TypeAlias = Callable[[bytes, Mapping[str, str], datetime], AdapterResult]
"""The uniform entry point: raw body, request headers, time of receipt → per-item result.

It never raises for bad input (that becomes a :class:`Rejection`); it raises ``ValueError``
only for a programming error such as a naive ``received_at``.
"""


# --- request helpers ---------------------------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, matched case-insensitively (HTTP header names are)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, val in headers.items():
        if key.lower() == wanted:
            return val
    return None


def require_aware(received_at: datetime) -> datetime:
    """``received_at`` itself, refusing a naive datetime (which instant would it be?)."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    return received_at


_BOM = b"\xef\xbb\xbf"


def load_json(body: bytes) -> list[Any | AdapterError]:
    """The JSON documents of a body: one document, or one per line of a JSON Lines body.

    A line of a JSON Lines body that is not JSON gives an :class:`AdapterError` in its place,
    so that the other lines still count. A body that is neither raises :class:`AdapterError`.
    """
    if body.startswith(_BOM):
        body = body[len(_BOM):]
    if not body.strip():
        raise AdapterError(INVALID_JSON, "the body is empty")
    try:
        return [orjson.loads(body)]
    except orjson.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(body.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise _json_error(whole_error, "the body") from None
        documents: list[Any | AdapterError] = []
        for number, line in lines:
            try:
                documents.append(orjson.loads(line))
            except orjson.JSONDecodeError as error:
                documents.append(_json_error(error, f"line {number}"))
        if all(isinstance(doc, AdapterError) for doc in documents):
            raise _json_error(whole_error, "the body") from None
        return documents


def _json_error(error: orjson.JSONDecodeError, where: str) -> AdapterError:
    if "UTF-8" in str(error):
        return AdapterError(INVALID_ENCODING, f"{where} is not valid UTF-8: {error}")
    return AdapterError(INVALID_JSON, f"{where} is not valid JSON: {error}")


# --- field helpers -----------------------------------------------------------------------------


def opt_text(data: Mapping[str, Any], key: str, where: str | None = None) -> str | None:
    """``data[key]`` as a stripped non-empty string, None when absent or empty.

    Integers are accepted and turned into strings (vendors send numeric ids); any other type is
    an :class:`AdapterError` naming the field (``where`` is its dotted path for the message).
    """
    value = data.get(key)
    name = where or key
    if value is None:
        return None
    if isinstance(value, bool):
        raise AdapterError(INVALID_FIELD, f"{name} must be a string, got a boolean", name)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    raise AdapterError(
        INVALID_FIELD, f"{name} must be a string, got {type(value).__name__}", name
    )


def scalar(value: Any) -> str | int | None:
    """``value`` when it is a non-empty string or an integer (not a boolean), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value:
        return value
    return None


def identifier(type_: str, value: str, verified: bool) -> dict[str, Any]:
    """One entry of the event's ``identifiers`` array."""
    return {"type": type_, "value": value, "verified": verified}


# --- time --------------------------------------------------------------------------------------

_ISO_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?P<fraction>[.,]\d+)?(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_iso_datetime(value: Any, name: str, *, naive_tz: tzinfo | None = UTC) -> datetime:
    """An ISO 8601 / RFC 3339 date-time with a time of day, as an aware datetime.

    Only the extended calendar form is accepted (``2015-02-02T00:30:08.276Z``); a date alone,
    a one-digit month (``2015-2-02``) or a week date is an :class:`AdapterError`
    (``invalid_timestamp``) naming the field. Without an offset the value is read in
    ``naive_tz``; ``naive_tz=None`` refuses it.
    """
    if not isinstance(value, str):
        raise AdapterError(
            INVALID_TIMESTAMP,
            f"{name} must be an ISO 8601 date-time string, got {type(value).__name__}",
            name,
        )
    match = _ISO_DATETIME.fullmatch(value.strip())
    if match is None:
        raise AdapterError(
            INVALID_TIMESTAMP,
            f"{name} {value!r} is not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS±HH:MM)",
            name,
        )
    fraction = (match["fraction"] or "")[1:7]
    offset = match["offset"] or ""
    text = f"{match['date']}T{match['time']}" + (f".{fraction}" if fraction else "")
    text += "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise AdapterError(
            INVALID_TIMESTAMP, f"{name} {value!r} is not a valid date-time: {error}", name
        ) from None
    if parsed.tzinfo is None:
        if naive_tz is None:
            raise AdapterError(
                INVALID_TIMESTAMP, f"{name} {value!r} has no UTC offset", name
            )
        parsed = parsed.replace(tzinfo=naive_tz)
    return parsed


_MILLIS_THRESHOLD = 100_000_000_000  # 1e11 s is the year 5138; 1e11 ms is 1973-03-03


def epoch_datetime(value: Any, name: str) -> datetime:
    """A Unix timestamp in seconds or milliseconds (number or numeric string), in UTC.

    Values of 1e11 and more are read as milliseconds: as seconds they would lie after the year
    5000, as milliseconds they are any date after March 1973.
    """
    number: float
    if isinstance(value, bool):
        raise AdapterError(INVALID_TIMESTAMP, f"{name} must be a number, got a boolean", name)
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        number = float(value) if "." in value else int(value)
    else:
        raise AdapterError(
            INVALID_TIMESTAMP, f"{name} {value!r} is not a Unix timestamp", name
        )
    if abs(number) >= _MILLIS_THRESHOLD:
        number = number / 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        raise AdapterError(
            INVALID_TIMESTAMP, f"{name} {value!r} is out of range", name
        ) from None


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with a ``Z`` offset, at the precision it carries."""
    utc = moment.astimezone(UTC)
    if utc.microsecond == 0:
        spec = "seconds"
    elif utc.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


# --- ids ---------------------------------------------------------------------------------------


def stable_hash(value: Any) -> str:
    """SHA-256 (hex) of ``value`` serialized as JSON with sorted keys: same data, same hash."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def event_id(prefix: str, *parts: str) -> str:
    """``prefix:part:part`` from the vendor's own ids; hashed when longer than 128 characters."""
    candidate = ":".join((prefix, *parts))
    if len(candidate) <= MAX_EVENT_ID:
        return candidate
    digest = hashlib.sha256(candidate.encode()).hexdigest()[:40]
    return f"{prefix[:80]}:sha256:{digest}"


def hashed_event_id(prefix: str, item: Any) -> str:
    """An id for an item that has no vendor id: a stable hash of its content."""
    return f"{prefix}:h:{stable_hash(item)[:32]}"


# --- events ------------------------------------------------------------------------------------


def build_event(
    *,
    event_id: str,
    occurred_at: datetime,
    channel: str,
    touchpoint: str,
    identifiers: Sequence[dict[str, Any]] = (),
    refs: Mapping[str, str] | None = None,
    outcome: str | None = None,
    device: Mapping[str, str] | None = None,
    session_id: str | None = None,
    source: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Event:
    """An interaction event with its fields in a stable order and the empty ones left out.

    Identifiers repeated with the same type and value are kept once (verified if any was).
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for ident in identifiers:
        key = (ident["type"], ident["value"])
        if key in merged:
            merged[key]["verified"] = merged[key]["verified"] or ident["verified"]
        else:
            merged[key] = dict(ident)
    event: Event = {
        "event_id": event_id,
        "occurred_at": rfc3339(occurred_at),
        "channel": channel,
        "touchpoint": touchpoint,
        "identifiers": list(merged.values()),
    }
    if refs:
        event["refs"] = dict(refs)
    if outcome:
        event["outcome"] = outcome
    if device:
        event["device"] = dict(device)
    if session_id:
        event["session_id"] = session_id
    if source:
        event["source"] = source
    if attributes:
        event["attributes"] = {k: v for k, v in attributes.items() if v is not None}
    return event


def collect(
    items: Iterable[Any],
    convert: Callable[[Any], Event],
    item_id: Callable[[Any], str | None] = lambda _item: None,
) -> AdapterResult:
    """Convert every item, turning each failure into a per-item rejection or skip.

    An item may already be an :class:`AdapterError` (a JSON Lines line that did not parse).
    Two items of the batch that yield the same event id are checked against each other: the
    same event again is skipped (``duplicate_item``); a different event under an id already
    used is rejected (``duplicate_event_id``), since downstream deduplication by id would
    silently drop it.
    """
    result = AdapterResult()
    seen: dict[str, tuple[int, Event]] = {}
    for index, item in enumerate(items):
        if isinstance(item, AdapterError):
            result.rejected.append(Rejection(item.reason, item.message, index, None, item.field))
            continue
        try:
            event = convert(item)
        except AdapterError as error:
            result.rejected.append(
                Rejection(error.reason, error.message, index, _safe_id(item_id, item),
                          error.field, item)
            )
            continue
        except Skip as skip:
            result.skipped.append(
                Rejection(skip.reason, skip.message, index, _safe_id(item_id, item),
                          skip.field, item)
            )
            continue
        eid = event.get("event_id")
        if not isinstance(eid, str):  # a canonical event without id: the core rejects it
            result.events.append(event)
            continue
        if eid in seen:
            first, earlier = seen[eid]
            if earlier == event:
                result.skipped.append(Rejection(
                    DUPLICATE_ITEM, f"item {index} repeats item {first} (event id {eid!r})",
                    index, _safe_id(item_id, item), None, item,
                ))
            else:
                result.rejected.append(Rejection(
                    DUPLICATE_EVENT_ID,
                    f"event id {eid!r} of item {index} is already used by item {first} of "
                    "this batch, with different content",
                    index, _safe_id(item_id, item), None, item,
                ))
            continue
        seen[eid] = (index, event)
        result.events.append(event)
    return result


def _safe_id(item_id: Callable[[Any], str | None], item: Any) -> str | None:
    try:
        return item_id(item)
    except (AdapterError, AttributeError, TypeError):
        return None
