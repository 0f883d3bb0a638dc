"""The product's configuration file (`--config FILE`) and the settings the core runs with.

The file is YAML with two top-level keys, both optional (`docs/configuration.md`):

    catalog:     the tables of SPEC §4; a present table replaces its default wholesale
    processing:  how events are checked and emitted (capability_check, max_event_bytes, ...)

It is validated completely at start: an invalid file raises `ConfigurationError` listing every
problem as `FILE: key.path: what is wrong`. Secrets (the hashing pepper) and deployment settings
(brokers, Redis, topics) are not in this file; they come from the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from journey_stitcher.catalog.default import default_catalog
from journey_stitcher.catalog.loader import (
    CatalogSection,
    Problem,
    build_catalog,
    describe_validation_error,
    read_yaml,
    show,
)
from journey_stitcher.catalog.model import Catalog
from journey_stitcher.errors import ConfigurationError

__all__ = ["CapabilityCheck", "StitcherConfig", "config_from_document", "load_config"]

CapabilityCheck = Literal["reject", "flag"]


@dataclass(frozen=True, slots=True)
class StitcherConfig:
    """Everything the stitching core needs to know, fixed for the life of the process."""

    catalog: Catalog = field(default_factory=default_catalog)
    # "reject": an unsupported touchpoint goes to the DLQ; "flag": it is processed and its
    # outputs carry capability_violation = true (SPEC §7.7).
    capability_check: CapabilityCheck = "reject"
    max_event_bytes: int = 65536
    source: str = "journey-stitcher"  # the CloudEvents `source` of every output
    hashing: bool = True  # identifier values are stored and emitted as keyed hashes (§6.9)
    default_phone_region: str = "US"  # region of phone numbers written without a country code
    merge_guard: int = 100  # at most this many merges into one profile (§6.5)
    handoff_context_limit: int = 10  # touchpoints carried in a handoff's context (§5, at most 10)


class ProcessingSection(BaseModel):
    """The `processing:` key of the configuration file."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    capability_check: CapabilityCheck = "reject"
    max_event_bytes: int = Field(default=65536, ge=1)
    source: str = "journey-stitcher"
    hashing: bool = True
    default_phone_region: str = "US"
    merge_guard: int = Field(default=100, ge=1)
    handoff_context_limit: int = Field(default=10, ge=0, le=10)


class ConfigFile(BaseModel):
    """The whole configuration file."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    catalog: CatalogSection = CatalogSection()
    processing: ProcessingSection = ProcessingSection()


def load_config(path: Path | None) -> StitcherConfig:
    """The configuration in the YAML file at `path`; the defaults of SPEC when `path` is None."""
    if path is None:
        return config_from_document({}, "(defaults)")
    return config_from_document(read_yaml(path), str(path))


def config_from_document(document: object, source: str) -> StitcherConfig:
    """The configuration a parsed YAML `document` describes; `source` names it in errors."""
    try:
        parsed = ConfigFile.model_validate({} if document is None else document)
    except ValidationError as exc:
        _fail(source, describe_validation_error(exc, ConfigFile))
    catalog, problems = build_catalog(parsed.catalog)
    processing = parsed.processing
    problems += _processing_problems(processing)
    if problems:
        _fail(source, problems)
    return StitcherConfig(
        catalog=catalog,
        capability_check=processing.capability_check,
        max_event_bytes=processing.max_event_bytes,
        source=processing.source,
        hashing=processing.hashing,
        default_phone_region=processing.default_phone_region.upper(),
        merge_guard=processing.merge_guard,
        handoff_context_limit=processing.handoff_context_limit,
    )


# The characters RFC 3986 allows in a URI reference (unreserved, reserved, percent-escapes):
# what schemas/cloudevent.v1.json's `format: uri-reference` accepts for `source`.
_URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")


def _processing_problems(processing: ProcessingSection) -> list[Problem]:
    problems = []
    if processing.default_phone_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(Problem(
            "processing.default_phone_region",
            f"unknown region {show(processing.default_phone_region)}: use an ISO 3166-1 "
            "alpha-2 code such as US, GB or IT",
        ))
    if not _URI_REFERENCE.fullmatch(processing.source):
        problems.append(Problem(
            "processing.source",
            "must be a non-empty URI reference (RFC 3986: ASCII letters, digits, "
            "-._~:/?#[]@!$&'()*+,;= and %XX escapes; no spaces) "
            f"(got {show(processing.source)})",
        ))
    return problems


def _fail(source: str, problems: list[Problem]) -> None:
    raise ConfigurationError("\n".join(f"{source}: {p.path}: {p.message}" for p in problems))
