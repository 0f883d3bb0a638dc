"""Raw Kafka record value → `Interaction`, or `InvalidInput` with the DLQ reason (SPEC §3).

Checks run in this order, and the first failure decides the reason:

    too_large                  the record is longer than `max_event_bytes`
    invalid_json               not UTF-8, or not JSON
    schema_violation           what `schemas/interaction.v1.json` rejects (a JSON value that is
                               not an object included); `tests/unit/test_schemas.py` keeps the
                               two in agreement
    unknown_channel            then what only the (configurable) catalog can tell
    unknown_touchpoint
    unknown_identifier_type
    unsupported_touchpoint     unless `capability_check` is "flag": then the event is accepted
                               with `capability_violation` set

`no_identity` needs normalized identifiers and is the identity stage's decision.

Every message starts with the JSON path of the offending field (`identifiers[1].value: ...`)
and never repeats an identifier value, so DLQ headers and logs carry no personal data.

This is the hot path of the worker: the checks are written out by hand (no jsonschema, no
pydantic) and the common case costs a few dictionary look-ups per field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from journey_stitcher.config import StitcherConfig
from journey_stitcher.errors import InvalidInput
from journey_stitcher.interactions.model import (
    OUTCOMES,
    Device,
    Identifier,
    Interaction,
    Outcome,
)

__all__ = ["parse_interaction", "parse_timestamp"]

_REQUIRED = ("event_id", "occurred_at", "channel", "touchpoint")
_OPTIONAL = (
    "identifiers", "refs", "outcome", "device", "session_id", "source", "consent", "attributes"
)
_FIELDS = frozenset(_REQUIRED + _OPTIONAL)
_EVENT_ID_MAX = 128
_PATH_MAX = 96
# Objects and arrays inside `attributes`, the object itself counted. The outputs carry
# `attributes` two levels down (envelope, `data`), and a JSON writer stops somewhere (orjson
# at 254 levels): a deeper value would be accepted here and then fail every write of its
# outputs, so it is refused up front, far below any writer's limit.
ATTRIBUTES_MAX_DEPTH = 32

# RFC 3339 `date-time`: a full date, `T`, a full time and a mandatory offset. fromisoformat()
# alone also takes ISO 8601 forms RFC 3339 does not (`20240101T10Z`, no offset, a space).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)


def parse_interaction(raw: bytes, config: StitcherConfig) -> Interaction:
    """The interaction in `raw`, checked against SPEC §3 and the catalog of `config`."""
    if len(raw) > config.max_event_bytes:
        raise InvalidInput(
            "too_large", f"event: {len(raw)} bytes, more than the limit of {config.max_event_bytes}"
        )
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("invalid_json", f"event: not a UTF-8 JSON document ({exc})") from None
    return parse_document(doc, config)


def parse_document(doc: object, config: StitcherConfig) -> Interaction:
    """The interaction in an already decoded JSON document (see `parse_interaction`)."""
    if type(doc) is not dict:
        raise _violation("event", f"must be a JSON object (got {_json_type(doc)})")
    if not doc.keys() <= _FIELDS:
        unknown = sorted(doc.keys() - _FIELDS)[0]
        raise _violation(unknown, f"unknown field (allowed: {', '.join(_REQUIRED + _OPTIONAL)})")
    interaction = _build(doc)
    _check_catalog(interaction, config)
    if not config.catalog.supports(interaction.channel, interaction.touchpoint):
        if config.capability_check == "reject":
            raise InvalidInput(
                "unsupported_touchpoint",
                f"touchpoint: channel {interaction.channel!r} does not support "
                f"{interaction.touchpoint!r}",
            )
        return dataclasses.replace(interaction, capability_violation=True)
    return interaction


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp with offset as an aware UTC datetime; None when it is not one."""
    if type(value) is not str:
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    if value[-1] not in "Zz" and (int(match[1]) > 23 or int(match[2]) > 59):
        return None  # fromisoformat() reads +01:60 as +02:00
    if value[10] == "t" or value[-1] == "z":
        value = value.upper()
    try:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # 2024-02-30, 25:00, a date beyond datetime's range
        return None


def _build(doc: dict[str, Any]) -> Interaction:
    event_id = doc.get("event_id")
    if type(event_id) is not str or not 0 < len(event_id) <= _EVENT_ID_MAX:
        raise _field_violation(doc, "event_id", "must be a string of 1 to 128 characters")
    occurred_at = parse_timestamp(doc.get("occurred_at"))
    if occurred_at is None:
        raise _field_violation(
            doc, "occurred_at",
            "must be an RFC 3339 timestamp with an offset, e.g. 2024-05-01T09:30:00+02:00",
        )
    channel = doc.get("channel")
    if type(channel) is not str or not channel:
        raise _field_violation(doc, "channel", "must be a non-empty string")
    touchpoint = doc.get("touchpoint")
    if type(touchpoint) is not str or not touchpoint:
        raise _field_violation(doc, "touchpoint", "must be a non-empty string")
    return Interaction(
        event_id=event_id,
        occurred_at=occurred_at,
        channel=channel,
        touchpoint=touchpoint,
        identifiers=_identifiers(doc["identifiers"]) if "identifiers" in doc else (),
        refs=_refs(doc["refs"]) if "refs" in doc else {},
        outcome=_outcome(doc["outcome"]) if "outcome" in doc else None,
        device=_device(doc["device"]) if "device" in doc else None,
        session_id=_string(doc["session_id"], "session_id") if "session_id" in doc else None,
        source=_string(doc["source"], "source") if "source" in doc else None,
        consent_stitching=_consent(doc["consent"]) if "consent" in doc else True,
        attributes=_attributes(doc["attributes"]) if "attributes" in doc else None,
        occurred_at_text=_utc_text(doc["occurred_at"]),
    )


def _utc_text(text: str) -> str:
    """The input's timestamp text when it is already UTC (`Z`); "" to convert it."""
    return text.upper() if text[-1:] in ("Z", "z") else ""


def _identifiers(items: object) -> tuple[Identifier, ...]:
    if type(items) is not list:
        raise _violation(
            "identifiers", f"must be an array of identifiers (got {_json_type(items)})"
        )
    identifiers = []
    for index, item in enumerate(items):
        if type(item) is dict:
            kind, value = item.get("type"), item.get("value")
            verified = item.get("verified", False)
            if (
                type(kind) is str and kind and type(value) is str and value
                and type(verified) is bool
                and (len(item) == 2 or (len(item) == 3 and "verified" in item))
            ):
                identifiers.append(Identifier(kind, value, verified))
                continue
        raise _explain_identifier(index, item)
    return tuple(identifiers)


def _explain_identifier(index: int, item: object) -> InvalidInput:
    path = f"identifiers[{index}]"
    if type(item) is not dict:
        return _violation(
            path, f"must be an object {{type, value, verified?}} (got {_json_type(item)})"
        )
    # Nothing an identifier entry holds is echoed unless it looks like a type name: a value
    # put in the wrong place (a key, `verified`, `type`) must not reach the DLQ's headers.
    for name in item:
        if name not in ("type", "value", "verified"):
            return _violation(f"{path}.{_name(name)}", "unknown field (allowed: type, value, verified)")
    for name in ("type", "value"):
        if type(item.get(name)) is not str or not item[name]:
            return _field_violation(item, name, "must be a non-empty string", prefix=f"{path}.")
    return _violation(f"{path}.verified", f"must be true or false (got {_json_type(item['verified'])})")


def _refs(refs: object) -> Mapping[str, str]:
    if type(refs) is not dict:
        raise _violation("refs", f"must be an object of strings (got {_json_type(refs)})")
    for name, value in refs.items():
        if type(value) is not str:
            raise _violation(f"refs.{name}", f"must be a string (got {_json_type(value)})")
    return refs


def _outcome(outcome: object) -> Outcome:
    if type(outcome) is str and outcome in OUTCOMES:
        return outcome  # type: ignore[return-value]  # membership in OUTCOMES narrows it
    raise _violation(
        "outcome",
        f"must be one of started, completed, failed, abandoned (got {_show(outcome)})",
    )


def _device(device: object) -> Device:
    if type(device) is not dict:
        raise _violation("device", f"must be an object {{id, type?}} (got {_json_type(device)})")
    for name in device:
        if name not in ("id", "type"):
            raise _violation(f"device.{name}", "unknown field (allowed: id, type)")
    device_id, kind = device.get("id"), device.get("type")
    if type(device_id) is not str or not device_id:
        raise _field_violation(device, "id", "must be a non-empty string", prefix="device.")
    if "type" in device and type(kind) is not str:
        raise _violation("device.type", f"must be a string (got {_json_type(kind)})")
    return Device(device_id, kind)


def _string(value: object, path: str) -> str:
    if type(value) is not str:
        raise _violation(path, f"must be a string (got {_json_type(value)})")
    return value


def _consent(consent: object) -> bool:
    if type(consent) is dict and len(consent) == 1 and type(consent.get("stitching")) is bool:
        return bool(consent["stitching"])
    if type(consent) is not dict:
        raise _violation(
            "consent", f"must be an object {{stitching}} (got {_json_type(consent)})"
        )
    for name in consent:
        if name != "stitching":
            raise _violation(f"consent.{name}", "unknown field (allowed: stitching)")
    raise _field_violation(consent, "stitching", "must be true or false", prefix="consent.")


def _attributes(attributes: object) -> Mapping[str, Any]:
    if type(attributes) is not dict:
        raise _violation("attributes", f"must be an object (got {_json_type(attributes)})")
    if _deeper_than(attributes, ATTRIBUTES_MAX_DEPTH):
        raise _violation(
            "attributes",
            f"objects and arrays nested more than {ATTRIBUTES_MAX_DEPTH} levels deep",
        )
    return attributes


def _deeper_than(value: object, limit: int) -> bool:
    """Whether `value` nests objects and arrays more than `limit` levels (no recursion: the
    parser accepts documents deeper than Python's own recursion limit)."""
    pending: list[tuple[dict[str, Any] | list[Any], int]] = []
    if type(value) is dict or type(value) is list:
        pending.append((value, 1))
    while pending:
        item, depth = pending.pop()
        for child in item.values() if type(item) is dict else item:
            if type(child) is dict or type(child) is list:
                if depth == limit:
                    return True
                pending.append((child, depth + 1))
    return False


def _check_catalog(interaction: Interaction, config: StitcherConfig) -> None:
    catalog = config.catalog
    if interaction.channel not in catalog.channels:
        raise InvalidInput(
            "unknown_channel", f"channel: {_show(interaction.channel)} is not in the catalog"
        )
    if interaction.touchpoint not in catalog.touchpoints:
        raise InvalidInput(
            "unknown_touchpoint",
            f"touchpoint: {_show(interaction.touchpoint)} is not in the catalog",
        )
    types = catalog.identifier_types
    for index, identifier in enumerate(interaction.identifiers):
        if identifier.type not in types:
            raise InvalidInput(
                "unknown_identifier_type",
                f"identifiers[{index}].type: {_quoted(identifier.type)} is not an identifier type "
                "of the catalog",
            )


# ---------------------------------------------------------------------------------------------
# Failures: the slow path, so it may take its time to say exactly what is wrong


def _violation(path: str, problem: str) -> InvalidInput:
    if len(path) > _PATH_MAX:  # an unknown key may be anything: keep DLQ headers small
        path = path[: _PATH_MAX - 3] + "..."
    return InvalidInput("schema_violation", f"{path}: {problem}")


def _field_violation(
    container: Mapping[str, object], name: str, expected: str, prefix: str = ""
) -> InvalidInput:
    if name not in container:
        return _violation(f"{prefix}{name}", "required field is missing")
    return _violation(f"{prefix}{name}", f"{expected} (got {_show(container[name])})")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, list):
        return "an array"
    return "an object"


_TYPE_NAME = re.compile(r"[a-z][a-z_]{0,31}")


def _name(text: str) -> str:
    """A field or type name inside an identifier entry, quoted when it looks like one (lower
    case and underscores); anything else may be an identifier value and is not shown."""
    return text if _TYPE_NAME.fullmatch(text) else "<not shown>"


def _quoted(text: str) -> str:
    name = _name(text)
    return repr(name) if name == text else name


def _show(value: object) -> str:
    """A short rendering of a non-personal value; strings are quoted and cut at 64 characters."""
    if type(value) is not str:
        return _json_type(value)
    if not value:
        return "an empty string"
    return repr(value) if len(value) <= 64 else repr(value[:61] + "...")
