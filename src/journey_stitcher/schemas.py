"""Where the JSON Schemas of the product live, and the ids outputs put in `dataschema`.

The schemas are files of the repository (`schemas/`), the contract downstream teams read; the
package resolves them relative to its source tree, which holds for the editable install the
project uses (`make venv`). A wheel for distribution would have to ship `schemas/` as package
data and change `SCHEMAS_DIR` accordingly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson

__all__ = ["SCHEMAS_DIR", "SCHEMA_BASE", "SCHEMA_IDS", "load_schema", "schema_path"]

SCHEMAS_DIR: Final = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA_BASE: Final = "https://journey-stitcher.dev/schemas/"

_NAMES: Final = (
    "interaction",
    "journey.started",
    "journey.continued",
    "journey.handoff",
    "journey.completed",
    "journey.abandoned",
    "identity.merged",
    "identity.conflict",
    "cloudevent",
    "dlq-record",
)

# Schema name (for outputs, the CloudEvent `type`) → `$id`, the value of `dataschema`.
SCHEMA_IDS: Final[dict[str, str]] = {name: f"{SCHEMA_BASE}{name}.v1.json" for name in _NAMES}


def schema_path(name: str) -> Path:
    """The file of schema `name` (`interaction`, `journey.handoff`, `dlq-record`, ...)."""
    if name not in SCHEMA_IDS:
        raise KeyError(f"no schema named {name!r}; known: {', '.join(SCHEMA_IDS)}")
    return SCHEMAS_DIR / f"{name}.v1.json"


def load_schema(name: str) -> dict[str, Any]:
    """The parsed JSON Schema `name`."""
    schema: dict[str, Any] = orjson.loads(schema_path(name).read_bytes())
    return schema
