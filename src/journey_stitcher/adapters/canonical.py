"""Courier, field service, chat, IoT: the canonical format as is, and CSV batch files.

* ``canonical``: bodies already in the interaction format of SPEC §3 — one JSON object, an array
  of objects or JSON Lines. The adapter only checks that each item is a JSON object; the core
  validates the rest (and dead-letters with the precise reason), so that the rules live in one
  place.
* ``csv``: batch files from stores and couriers, turned into interaction events through a
  :class:`CsvMapping` (column → field, with dotted targets such as ``identifiers.phone``,
  ``refs.order_id``, ``device.id``; defaults for the fields the file does not carry, such as the
  channel and the touchpoint). Each row is one event; a bad row is rejected with its line number
  and the others still count. A row without an ``event_id`` column gets a stable hash of its
  content, so importing the same file twice dedupes downstream.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from journey_stitcher.adapters.base import (
    Adapter,
    AdapterResult,
    Event,
    Rejection,
    build_event,
    collect,
    epoch_datetime,
    hashed_event_id,
    identifier,
    load_json,
    parse_iso_datetime,
    require_aware,
)
from journey_stitcher.adapters.errors import (
    INVALID_ENCODING,
    INVALID_FIELD,
    INVALID_PAYLOAD,
    INVALID_TIMESTAMP,
    MISSING_FIELD,
    AdapterError,
)
from journey_stitcher.errors import ConfigurationError

__all__ = [
    "DEFAULT_CSV_MAPPING",
    "CsvMapping",
    "canonical_adapter",
    "canonical_batch",
    "csv_adapter",
    "csv_batch",
    "csv_row_event",
]


# --- canonical ---------------------------------------------------------------------------------


def _canonical_item(item: Any) -> Event:
    if not isinstance(item, dict):
        raise AdapterError(
            INVALID_PAYLOAD,
            f"an interaction event must be a JSON object, got {type(item).__name__}",
        )
    return item


def _item_event_id(item: Any) -> str | None:
    if isinstance(item, Mapping):
        value = item.get("event_id")
        return value if isinstance(value, str) else None
    return None


def canonical_batch(documents: Sequence[Any]) -> AdapterResult:
    """Interaction events of parsed JSON ``documents`` (each an event or an array of events)."""
    items: list[Any] = []
    for document in documents:
        if isinstance(document, list):
            items.extend(document)
        else:
            items.append(document)
    return collect(items, _canonical_item, _item_event_id)


def canonical_adapter() -> Adapter:
    """The uniform entry point for bodies in the canonical interaction format."""

    def adapt(body: bytes, headers: Mapping[str, str], received_at: datetime) -> AdapterResult:
        require_aware(received_at)
        try:
            documents = load_json(body)
        except AdapterError as error:
            return AdapterResult.failed(error)
        return canonical_batch(documents)

    return adapt


# --- CSV ---------------------------------------------------------------------------------------

_SCALAR_TARGETS = frozenset({
    "event_id", "occurred_at", "channel", "touchpoint", "outcome", "session_id", "source",
    "device.id", "device.type", "consent.stitching",
})
_PREFIX_TARGETS = ("identifiers.", "refs.", "attributes.")
_REQUIRED = ("occurred_at", "channel", "touchpoint")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_TRUE = frozenset({"true", "yes", "y", "1", "si", "sì"})
_FALSE = frozenset({"false", "no", "n", "0"})


def _check_target(target: str, where: str) -> None:
    if target in _SCALAR_TARGETS:
        return
    for prefix in _PREFIX_TARGETS:
        if target.startswith(prefix) and _NAME.fullmatch(target[len(prefix):]):
            return
    raise ConfigurationError(
        f"{where}: {target!r} is not a field of the interaction event (use one of "
        f"{', '.join(sorted(_SCALAR_TARGETS))}, or identifiers.<type>, refs.<name>, "
        "attributes.<name>)"
    )


@dataclass(frozen=True)
class CsvMapping:
    """How the columns of a CSV file become interaction events.

    ``columns`` maps a header name to a target field; None means the header names are the
    targets themselves (``occurred_at,channel,touchpoint,identifiers.email,refs.order_id``).
    ``defaults`` gives a value to targets no column fills (``channel: courier``). Identifier
    types in ``verified`` are marked verified (the file comes from a trusted system). Naive
    timestamps are read in ``timezone``; ``timestamp_format`` (strptime) replaces ISO 8601.
    """

    columns: Mapping[str, str] | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)
    verified: frozenset[str] = frozenset()
    timezone: str = "UTC"
    timestamp_format: str | None = None
    delimiter: str = ","
    keep_unmapped: bool = False
    """Carry columns absent from ``columns`` into ``attributes`` (by header name)."""
    source: str = "csv"
    id_prefix: str = "csv"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for column, target in (self.columns or {}).items():
            _check_target(target, f"columns.{column}")
        for target in self.defaults:
            _check_target(target, f"defaults.{target}")
        if len(self.delimiter) != 1:
            raise ConfigurationError(
                f"delimiter: {self.delimiter!r} must be a single character"
            )
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(
                f"timezone: {self.timezone!r} is not an IANA time zone"
            ) from None
        object.__setattr__(self, "_zone", zone)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CsvMapping:
        """A mapping from configuration data (the keys of this class; ``verified`` a list)."""
        known = {"columns", "defaults", "verified", "timezone", "timestamp_format",
                 "delimiter", "keep_unmapped", "source", "id_prefix"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(f"{unknown[0]}: not a CSV mapping setting")
        values = dict(data)
        if "verified" in values:
            values["verified"] = frozenset(values["verified"])
        return cls(**values)

    def target(self, column: str) -> str | None:
        """The field a column fills, or None when the column is ignored."""
        if self.columns is None:
            return column if _is_target(column) else None
        return self.columns.get(column)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone


def _is_target(name: str) -> bool:
    try:
        _check_target(name, "column")
    except ConfigurationError:
        return False
    return True


DEFAULT_CSV_MAPPING = CsvMapping()


def _timestamp(value: str, column: str, mapping: CsvMapping) -> datetime:
    if re.fullmatch(r"\d{9,13}", value):
        return epoch_datetime(value, column)
    if mapping.timestamp_format is None:
        return parse_iso_datetime(value, column, naive_tz=mapping.zone)
    try:
        parsed = datetime.strptime(value, mapping.timestamp_format)
    except ValueError:
        raise AdapterError(
            INVALID_TIMESTAMP,
            f"{column} {value!r} does not match the format {mapping.timestamp_format!r}",
            column,
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=mapping.zone)


def csv_row_event(row: Mapping[str, str], mapping: CsvMapping, *, line: int) -> Event:
    """The interaction event of one CSV row (``line`` is its line number, for messages)."""
    cells: dict[str, tuple[str, str]] = {}  # target → (column, value); first column wins
    identifiers: list[tuple[str, str, str]] = []  # (type, value, column)
    refs: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for column, raw in row.items():
        value = raw.strip()
        if not value:
            continue
        target = mapping.target(column)
        if target is None:
            if mapping.keep_unmapped:
                attributes[column] = value
            continue
        if target.startswith("identifiers."):
            identifiers.append((target.split(".", 1)[1], value, column))
        elif target.startswith("refs."):
            refs.setdefault(target.split(".", 1)[1], value)
        elif target.startswith("attributes."):
            attributes.setdefault(target.split(".", 1)[1], value)
        else:
            cells.setdefault(target, (column, value))
    for target, value in mapping.defaults.items():
        if target.startswith("identifiers."):
            if not any(t == target.split(".", 1)[1] for t, _, _ in identifiers):
                identifiers.append((target.split(".", 1)[1], value, f"defaults.{target}"))
        elif target.startswith("refs."):
            refs.setdefault(target.split(".", 1)[1], value)
        elif target.startswith("attributes."):
            attributes.setdefault(target.split(".", 1)[1], value)
        else:
            cells.setdefault(target, (f"defaults.{target}", value))

    for required in _REQUIRED:
        if required not in cells:
            raise AdapterError(
                MISSING_FIELD, f"line {line}: no value for {required} (empty cell, no default)",
                required,
            )
    time_column, time_value = cells["occurred_at"]
    try:
        occurred_at = _timestamp(time_value, time_column, mapping)
    except AdapterError as error:
        raise AdapterError(error.reason, f"line {line}: {error.message}", error.field) from None

    device: dict[str, str] | None = None
    if "device.id" in cells:
        device = {"id": cells["device.id"][1]}
        if "device.type" in cells:
            device["type"] = cells["device.type"][1]

    event = build_event(
        event_id="",
        occurred_at=occurred_at,
        channel=cells["channel"][1],
        touchpoint=cells["touchpoint"][1],
        identifiers=[identifier(t, v, t in mapping.verified) for t, v, _ in identifiers],
        refs=refs,
        outcome=cells["outcome"][1] if "outcome" in cells else None,
        device=device,
        session_id=cells["session_id"][1] if "session_id" in cells else None,
        source=cells["source"][1] if "source" in cells else mapping.source,
        attributes=attributes,
    )
    if "consent.stitching" in cells:
        column, value = cells["consent.stitching"]
        flag = value.casefold()
        if flag not in _TRUE | _FALSE:
            raise AdapterError(
                INVALID_FIELD, f"line {line}: {column} {value!r} is not a yes/no value", column
            )
        event["consent"] = {"stitching": flag in _TRUE}
    if "event_id" in cells:
        event["event_id"] = cells["event_id"][1]
    else:
        content = {k: v for k, v in event.items() if k != "event_id"}
        event["event_id"] = hashed_event_id(mapping.id_prefix, content)
    return event


_EXTRA = "\x00extra"


def _row_event(numbered: tuple[int, dict[str, Any], int], mapping: CsvMapping) -> Event:
    line, row, width = numbered
    if _EXTRA in row:
        raise AdapterError(
            INVALID_PAYLOAD,
            f"line {line} has {width + len(row[_EXTRA])} cells, the header has {width}",
        )
    if any(value is None for value in row.values()):
        present = sum(value is not None for value in row.values())
        raise AdapterError(
            INVALID_PAYLOAD, f"line {line} has {present} cells, the header has {width}"
        )
    return csv_row_event(row, mapping, line=line)


def csv_batch(body: bytes, mapping: CsvMapping = DEFAULT_CSV_MAPPING) -> AdapterResult:
    """Interaction events of a CSV file (UTF-8, with or without BOM; first line the header)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return AdapterResult.failed(
            AdapterError(INVALID_ENCODING, f"the CSV file is not UTF-8: {error}")
        )
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=mapping.delimiter,
                            restkey=_EXTRA, restval=None)
    try:
        header = reader.fieldnames
    except csv.Error as error:
        return AdapterResult.failed(AdapterError(INVALID_PAYLOAD, f"line 1: {error}"))
    if not header:
        return AdapterResult.failed(AdapterError(INVALID_PAYLOAD, "the CSV file has no header"))
    names = [name.strip() for name in header]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        return AdapterResult.failed(AdapterError(
            INVALID_PAYLOAD, f"the header repeats column {duplicates[0]!r}", duplicates[0]
        ))
    reader.fieldnames = names
    targets = {mapping.target(name) for name in names} | set(mapping.defaults)
    for required in _REQUIRED:
        if required not in targets:
            return AdapterResult.failed(AdapterError(
                MISSING_FIELD,
                f"no column maps to {required} and the mapping has no default for it "
                f"(header: {', '.join(names)})",
                required,
            ))

    rows: list[tuple[int, dict[str, Any], int]] = []
    broken: AdapterError | None = None
    try:
        for row in reader:
            rows.append((reader.line_num, row, len(names)))
    except csv.Error as error:
        broken = AdapterError(
            INVALID_PAYLOAD, f"line {reader.line_num}: {error}; the rest of the file is unread"
        )
    result = collect(rows, lambda numbered: _row_event(numbered, mapping))
    if broken is not None:
        result.rejected.append(Rejection(broken.reason, broken.message, len(rows)))
    return result


def csv_adapter(mapping: CsvMapping = DEFAULT_CSV_MAPPING) -> Adapter:
    """The uniform entry point for CSV batch files read through ``mapping``."""

    def adapt(body: bytes, headers: Mapping[str, str], received_at: datetime) -> AdapterResult:
        require_aware(received_at)
        return csv_batch(body, mapping)

    return adapt
