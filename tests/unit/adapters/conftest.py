"""What every adapter test checks: the events are interactions the core accepts as they are."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from journey_stitcher.adapters import AdapterResult
from journey_stitcher.config import StitcherConfig
from journey_stitcher.interactions.model import Interaction
from journey_stitcher.interactions.parse import parse_interaction
from journey_stitcher.schemas import load_schema

RECEIVED = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
"""When the gateway received the payloads of these tests."""

VENDOR_SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "vendor-samples"
"""Published vendor payloads, next to the repository when the workspace has them."""

needs_vendor_samples = pytest.mark.skipif(
    not VENDOR_SAMPLES.is_dir(),
    reason="the vendors' published payloads are not part of this repository (kept beside it in "
           "../shared/vendor-samples, never copied in); this checkout has none beside it. The "
           "adapters' own tests, with payloads and keys made here, still run",
)
"""For tests that check the adapters against those published payloads."""

_CONFIG = StitcherConfig()
_VALIDATOR = jsonschema.Draft202012Validator(
    load_schema("interaction"), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def accepted(event: dict[str, Any]) -> Interaction:
    """The event as the core parses it; fails the test when the schema or the core rejects it."""
    _VALIDATOR.validate(event)
    return parse_interaction(orjson.dumps(event), _CONFIG)


def only_event(result: AdapterResult) -> dict[str, Any]:
    """The single event of a result that must hold exactly one and nothing else."""
    assert result.rejected == [], result.rejected
    assert result.skipped == [], result.skipped
    assert len(result.events) == 1, result.events
    accepted(result.events[0])
    return result.events[0]


def reasons(items: list[Any]) -> list[str]:
    """The reasons of rejections or skips, in order."""
    return [item.reason for item in items]
