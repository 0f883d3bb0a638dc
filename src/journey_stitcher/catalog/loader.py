"""The catalog section of the configuration file: parse, validate, build a `Catalog`.

The configuration file (see `journey_stitcher.config` and `docs/configuration.md`) keeps the
tables of SPEC §4 under its top-level `catalog:` key:

    catalog:
      channels:          {id: {kind, direction, assisted, touchpoints}}
      touchpoints:       {id: {phase, family, goal}}
      families:          {id: {window}}
      identifier_types:  {id: {priority, max, anonymous}}
      blocked_patterns:  {identifier type: [regex, ...]}
      owned_refs:        [ref name, ...]
      blocked_values:    [value, ...]

Every table that is present REPLACES the default table of §4 wholesale; a table that is absent
keeps its default. There is no per-entry merging, so what a table says is all there is. The
defaults stay consistent with a replaced table because channels keep their capability rules,
not a frozen list: the default `store` supports `"*"` (every touchpoint of the touchpoints table
in force) and the default `web` supports every touchpoint except delivery, pickup and
service_visit, so replacing only `touchpoints` does not require restating `channels`.

Validation runs in two steps and reports every problem it finds, one line each, as
`FILE: key.path: what is wrong`:

1. shape: pydantic models with unknown keys forbidden and no type coercion;
2. meaning: ids are well formed, references between tables resolve (a channel's touchpoints, a
   touchpoint's family, a blocked pattern's identifier type), regexes compile, windows parse
   and are positive, identifier priorities are distinct.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from journey_stitcher.catalog.default import default_catalog
from journey_stitcher.catalog.model import (
    IDENTIFY,
    Catalog,
    Channel,
    Family,
    IdentifierType,
    Touchpoint,
)
from journey_stitcher.errors import ConfigurationError

__all__ = [
    "CatalogSection",
    "Problem",
    "build_catalog",
    "default_section",
    "describe_validation_error",
    "load_catalog",
    "parse_window",
    "read_yaml",
]

# Ids appear in topics' payloads, metric labels and Redis keys: keep them plain.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SHORT_WINDOW = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)
_ISO_WINDOW = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", re.ASCII
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ChannelEntry(_Section):
    kind: Literal["digital", "analog", "physical"]
    direction: Literal["two-way", "one-way"]
    assisted: bool = False
    # "*", a list of touchpoint ids, or {all_except: [...]}; checked in step 2 for exact paths.
    touchpoints: object


class TouchpointEntry(_Section):
    phase: str
    family: str
    goal: bool = False


class FamilyEntry(_Section):
    window: str


class IdentifierTypeEntry(_Section):
    priority: int
    max: int = Field(ge=1)
    anonymous: bool = False


class CatalogSection(_Section):
    """The `catalog:` key of the configuration file; `None` means "keep the default table"."""

    channels: dict[str, ChannelEntry] | None = None
    touchpoints: dict[str, TouchpointEntry] | None = None
    families: dict[str, FamilyEntry] | None = None
    identifier_types: dict[str, IdentifierTypeEntry] | None = None
    blocked_patterns: dict[str, list[str]] | None = None
    owned_refs: list[str] | None = None
    blocked_values: list[str] | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration file, at a dotted key path."""

    path: str
    message: str


# ---------------------------------------------------------------------------------------------
# Reading the file


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        if isinstance(key, Hashable):
            seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def read_yaml(path: Path) -> object:
    """The YAML document in `path`; every failure raises `ConfigurationError` naming the file."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: configuration file not found") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{path}: is a directory, not a YAML file") from None
    except PermissionError:
        raise ConfigurationError(f"{path}: cannot read the file (permission denied)") from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the file ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "malformed document"
        raise ConfigurationError(f"{path}: {where}invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: invalid YAML: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Step 1: pydantic errors, said the way a YAML author reads them


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def describe_validation_error(
    error: ValidationError, root: type[BaseModel], prefix: tuple[str, ...] = ()
) -> list[Problem]:
    """Turn pydantic's errors on a `root` document into `Problem`s with YAML key paths."""
    problems = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        if loc[-1:] == ("[key]",):  # the key itself is wrong: name it as a key, not an index
            loc = (*loc[:-2], str(loc[-2]))
        path = format_path((*prefix, *loc))
        kind, value = item["type"], item.get("input")
        if kind == "missing":
            message = "required key is missing"
        elif kind == "extra_forbidden":
            expected = ", ".join(_field_names(_annotation_at(root, loc[:-1])))
            message = f"unknown key (expected one of {expected})"
        elif kind == "literal_error":
            choices = ", ".join(str(c) for c in get_args(_annotation_at(root, loc)))
            message = f"must be one of {choices} (got {show(value)})"
        elif kind in _TYPE_NAMES:
            message = f"must be {_TYPE_NAMES[kind]} (got {show(value)}){_yaml_hint(kind, value)}"
        elif kind == "greater_than_equal":
            message = f"must be at least {item.get('ctx', {}).get('ge')} (got {show(value)})"
        elif kind == "less_than_equal":
            message = f"must be at most {item.get('ctx', {}).get('le')} (got {show(value)})"
        else:
            message = f"{item['msg']} (got {show(value)})"
        problems.append(Problem(path, message))
    return problems


def _yaml_hint(kind: str, value: object) -> str:
    if kind == "string_type" and isinstance(value, bool):
        return "; quote it: YAML reads yes/no/on/off/y/n as booleans"
    if kind == "string_type" and isinstance(value, int | float):
        return "; quote it to make it a string"
    return ""


def _annotation_at(root: object, loc: tuple[str | int, ...]) -> object:
    """The type annotation a `loc` of pydantic's errors points at, below model `root`."""
    current = root
    for part in loc:
        current = _strip_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return None
    return _strip_optional(current)


def _strip_optional(annotation: object) -> object:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _field_names(annotation: object) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def format_path(parts: Iterable[str | int]) -> str:
    """`("channels", "web", "touchpoints", 2)` → `channels.web.touchpoints[2]`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def show(value: object, limit: int = 40) -> str:
    """A value as the YAML author wrote it, shortened: 'digtal', 42, true, null."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, list):
        text = "a list"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Step 2: meaning and cross-references


# A journey idle for longer is not a journey; and a window must leave room in the calendar
# for a deadline (touch time + window) and the state's retention after it.
MAX_WINDOW = timedelta(days=3650)


def parse_window(text: str) -> timedelta | None:
    """`14d`, `72h`, `1d12h`, `90m` or ISO-8601 `P14D`, `PT72H`, `P2W`; None when unreadable."""
    match = _SHORT_WINDOW.fullmatch(text) or _ISO_WINDOW.fullmatch(text)
    if match is None or not any(match.groups()):
        return None
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    try:
        return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        return None


def _format_window(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_SINGULAR = {"channels": "channel", "touchpoints": "touchpoint", "families": "family"}


class _Checker:
    """Collects the step-2 problems of one catalog section."""

    def __init__(self, section: CatalogSection, prefix: str) -> None:
        self.section = section
        self.prefix = prefix
        self.problems: list[Problem] = []
        # (your table, what is missing from it, the default table using it) -> default entries
        self.gaps: dict[tuple[str, str, str], list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(f"{self.prefix}.{path}", message))

    def gap(self, table: str, missing: str, default_table: str, user: str) -> None:
        """A default table's entry `user` needs `missing`, which the file's `table` dropped."""
        self.gaps.setdefault((table, missing, default_table), []).append(user)

    def report_gaps(self) -> None:
        """One problem per missing entry, listing every default entry that needs it."""
        for (table, missing, default_table), users in self.gaps.items():
            kind = _SINGULAR[table]
            if len(users) == 1:
                who = f"the default {_SINGULAR[default_table]} {users[0]!r} uses"
            else:
                who = f"the default {default_table} {', '.join(map(repr, users))} use"
            self.add(
                table,
                f"{who} {kind} {missing!r}, which this table does not define: define it, "
                f"or replace {self.prefix}.{default_table} too",
            )

    def where(self, table: str) -> str:
        """How to name a table in a message: the file's own, or the default one."""
        return "" if getattr(self.section, table) is not None else "the default "

    def check_ids(self, table: str, ids: Iterable[str]) -> None:
        for id_ in ids:
            if not _ID.fullmatch(id_):
                self.add(
                    f"{table}.{id_}",
                    "not a valid id: use 1-64 letters, digits, '_', '.' or '-', "
                    "starting with a letter or digit",
                )


def _selection(
    checker: _Checker, channel_id: str, raw: object, known: Mapping[str, Touchpoint]
) -> frozenset[str]:
    """The touchpoints a channel entry's `touchpoints` value selects, checking every name."""
    path = f"channels.{channel_id}.touchpoints"
    journey_touchpoints = frozenset(tp for tp in known if tp != IDENTIFY)
    if raw == "*":
        return journey_touchpoints
    if isinstance(raw, list):
        return frozenset(_names(checker, channel_id, path, raw, known))
    if isinstance(raw, dict) and set(raw) == {"all_except"} and isinstance(raw["all_except"], list):
        excluded = _names(checker, channel_id, f"{path}.all_except", raw["all_except"], known)
        return journey_touchpoints - set(excluded)
    checker.add(
        path,
        f'must be "*", a list of touchpoint ids or {{all_except: [touchpoint ids]}} '
        f"(got {show(raw)})",
    )
    return frozenset()


def _names(
    checker: _Checker,
    channel_id: str,
    path: str,
    items: list[object],
    known: Mapping[str, Touchpoint],
) -> Iterator[str]:
    for index, item in enumerate(items):
        if not isinstance(item, str):
            checker.add(f"{path}[{index}]", f"must be a touchpoint id (got {show(item)})")
        elif item == IDENTIFY:
            checker.add(
                f"{path}[{index}]", "identify is accepted on every channel; do not list it"
            )
        elif item not in known and checker.section.channels is None:
            # A default rule excluding a touchpoint the file dropped still holds; a default
            # list naming one does not.
            if not path.endswith("all_except"):
                checker.gap("touchpoints", item, "channels", channel_id)
        elif item not in known:
            checker.add(
                f"{path}[{index}]",
                f"unknown touchpoint {item!r}: {checker.where('touchpoints')}touchpoints table "
                "does not define it",
            )
        else:
            yield item


def build_catalog(
    section: CatalogSection, prefix: str = "catalog"
) -> tuple[Catalog, list[Problem]]:
    """The catalog `section` describes over the §4 defaults, and every problem found on the way.

    The catalog is only meaningful when the problem list is empty.
    """
    merged = section.model_copy(
        update={
            name: value
            for name, value in default_section()
            if getattr(section, name) is None
        }
    )
    checker = _Checker(section, prefix)
    for name in sorted(section.model_fields_set):
        if getattr(section, name) is None:
            checker.add(name, "is empty: write the table, or remove the key to keep the default")
    for name in ("channels", "touchpoints", "families", "identifier_types"):
        if getattr(section, name) == {}:
            checker.add(name, "must have at least one entry")
    families = _families(checker, merged)
    touchpoints = _touchpoints(checker, merged, families)
    channels = {
        cid: Channel(
            cid, entry.kind, entry.direction, entry.assisted,
            _selection(checker, cid, entry.touchpoints, touchpoints),
        )
        for cid, entry in (merged.channels or {}).items()
    }
    checker.check_ids("channels", channels)
    identifier_types = _identifier_types(checker, merged)
    catalog = Catalog(
        channels=channels,
        touchpoints=touchpoints,
        families=families,
        identifier_types=identifier_types,
        owned_refs=frozenset(merged.owned_refs or ()),
        # Matching is on the normalized (trimmed, lower-cased) value; empty is always blocked.
        blocked_values=frozenset(v.strip().lower() for v in merged.blocked_values or ()) | {""},
        anonymous_types=frozenset(
            tid for tid, entry in (merged.identifier_types or {}).items() if entry.anonymous
        ),
    )
    for index, ref in enumerate(merged.owned_refs or ()):
        if not ref:
            checker.add(f"owned_refs[{index}]", "must not be empty")
    checker.report_gaps()
    return catalog, checker.problems


def _families(checker: _Checker, merged: CatalogSection) -> dict[str, Family]:
    families = {}
    for fid, entry in (merged.families or {}).items():
        window = parse_window(entry.window)
        if window is None:
            checker.add(
                f"families.{fid}.window",
                "must be a duration such as 14d, 72h, 1d12h or P14D, PT72H "
                f"(got {show(entry.window)})",
            )
        elif window <= timedelta(0):
            checker.add(
                f"families.{fid}.window", f"must be longer than zero (got {show(entry.window)})"
            )
        elif window > MAX_WINDOW:
            checker.add(
                f"families.{fid}.window",
                f"must be at most {MAX_WINDOW.days}d, ten years (got {show(entry.window)})",
            )
        families[fid] = Family(fid, window or timedelta(0))
    checker.check_ids("families", families)
    return families


def _touchpoints(
    checker: _Checker, merged: CatalogSection, families: Mapping[str, Family]
) -> dict[str, Touchpoint]:
    touchpoints = {}
    for tid, entry in (merged.touchpoints or {}).items():
        if tid == IDENTIFY:
            checker.add(f"touchpoints.{tid}", "identify is built in and cannot be redefined")
            continue
        if entry.family not in families and checker.section.touchpoints is None:
            checker.gap("families", entry.family, "touchpoints", tid)
        elif entry.family not in families:
            checker.add(
                f"touchpoints.{tid}.family",
                f"unknown family {entry.family!r}: {checker.where('families')}families table "
                f"defines {', '.join(sorted(families)) or 'none'}",
            )
        if not entry.phase:
            checker.add(f"touchpoints.{tid}.phase", "must not be empty")
        touchpoints[tid] = Touchpoint(tid, entry.phase, entry.family, entry.goal)
    checker.check_ids("touchpoints", touchpoints)
    touchpoints[IDENTIFY] = Touchpoint(IDENTIFY, None, None)
    return touchpoints


def _identifier_types(checker: _Checker, merged: CatalogSection) -> dict[str, IdentifierType]:
    entries = merged.identifier_types or {}
    checker.check_ids("identifier_types", entries)
    by_priority: dict[int, str] = {}
    for tid, entry in entries.items():
        if entry.priority in by_priority:
            checker.add(
                f"identifier_types.{tid}.priority",
                f"{entry.priority} is already the priority of {by_priority[entry.priority]!r}; "
                "priorities must be distinct (they decide attribution and the merge survivor)",
            )
        by_priority.setdefault(entry.priority, tid)
    patterns = _patterns(checker, merged.blocked_patterns or {}, entries)
    return {
        tid: IdentifierType(tid, entry.priority, entry.max, patterns.get(tid, ()))
        for tid, entry in entries.items()
    }


def _patterns(
    checker: _Checker, table: Mapping[str, list[str]], types_: Mapping[str, IdentifierTypeEntry]
) -> dict[str, tuple[re.Pattern[str], ...]]:
    compiled: dict[str, tuple[re.Pattern[str], ...]] = {}
    for tid, sources in table.items():
        if tid not in types_:
            checker.add(
                f"blocked_patterns.{tid}",
                f"unknown identifier type {tid!r}: {checker.where('identifier_types')}"
                f"identifier_types table defines {', '.join(sorted(types_))}",
            )
        patterns = []
        for index, source in enumerate(sources):
            try:
                patterns.append(re.compile(source))
            except re.error as exc:
                checker.add(
                    f"blocked_patterns.{tid}[{index}]", f"not a valid regular expression: {exc}"
                )
        compiled[tid] = tuple(patterns)
    return compiled


# ---------------------------------------------------------------------------------------------
# The defaults, as a section


@functools.cache
def default_section() -> CatalogSection:
    """SPEC §4 as a catalog section, with each channel's capability rule kept symbolic."""
    catalog = default_catalog()
    journey_touchpoints = frozenset(tp for tp in catalog.touchpoints if tp != IDENTIFY)
    return CatalogSection(
        channels={
            cid: ChannelEntry.model_validate({
                "kind": ch.kind,
                "direction": ch.direction,
                "assisted": ch.assisted,
                "touchpoints": _symbolic(ch.touchpoints, journey_touchpoints),
            })
            for cid, ch in catalog.channels.items()
        },
        touchpoints={
            tid: TouchpointEntry(phase=tp.phase or "", family=tp.family or "", goal=tp.goal)
            for tid, tp in catalog.touchpoints.items()
            if tid != IDENTIFY
        },
        families={
            fid: FamilyEntry(window=_format_window(f.window))
            for fid, f in catalog.families.items()
        },
        identifier_types={
            tid: IdentifierTypeEntry(
                priority=t.priority, max=t.max_per_profile, anonymous=tid in catalog.anonymous_types
            )
            for tid, t in catalog.identifier_types.items()
        },
        blocked_patterns={
            tid: [p.pattern for p in t.blocked_patterns]
            for tid, t in catalog.identifier_types.items()
            if t.blocked_patterns
        },
        owned_refs=sorted(catalog.owned_refs),
        blocked_values=sorted(catalog.blocked_values),
    )


def _symbolic(selected: frozenset[str], every: frozenset[str]) -> object:
    """`"*"`, `{all_except: [...]}` or a list: whichever states the rule of §4 most directly."""
    if selected == every:
        return "*"
    excluded = every - selected
    if len(excluded) < len(selected):
        return {"all_except": sorted(excluded)}
    return sorted(selected)


def load_catalog(path: Path | None) -> Catalog:
    """The catalog of the configuration file at `path` (the §4 defaults when `path` is None).

    The whole file is validated, not only its `catalog:` key; see `journey_stitcher.config`.
    """
    from journey_stitcher.config import load_config  # here: config builds on this module

    return load_config(path).catalog
