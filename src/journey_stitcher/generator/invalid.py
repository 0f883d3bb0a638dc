"""Bad input lines, for exercising the dead-letter path (SPEC §5 DLQ reasons)."""

from __future__ import annotations

from random import Random
from typing import Final

import orjson

from journey_stitcher.generator.events import Event

BAD_KINDS: Final = (
    "invalid_json", "unknown_channel", "unknown_touchpoint", "unsupported_touchpoint",
    "no_identity", "schema_violation",
)
"""The kinds of bad lines, named after the DLQ reason a stitcher should give them."""

_UNSUPPORTED: Final = (("ads", "purchase"), ("courier", "inform"), ("web", "delivery"),
                       ("print", "support"), ("iot", "pay"), ("sms", "pickup"))


def _schema_violation(event: Event, rng: Random) -> Event:
    roll = rng.randrange(5)
    if roll == 0:
        del event["occurred_at"]
    elif roll == 1:
        event["occurred_at"] = event["occurred_at"][:19].replace("T", " ")  # no offset
    elif roll == 2:
        event["customer"] = {"name": "Mario Rossi"}  # unknown top-level field
    elif roll == 3:
        event["identifiers"] = [{"type": "email", "value": ""}]
    else:
        event["outcome"] = "maybe"
    return event


def bad_line(template: Event, event_id: str, rng: Random) -> tuple[str, str]:
    """A bad line derived from a valid `template` event, and its kind."""
    kind = rng.choice(BAD_KINDS)
    event: Event = orjson.loads(orjson.dumps(template))
    event["event_id"] = event_id
    if kind == "invalid_json":
        text = orjson.dumps(event).decode()
        return text[: rng.randrange(1, max(2, len(text) - 1))], kind
    if kind == "unknown_channel":
        event["channel"] = rng.choice(("fax", "telegram", "carrier_pigeon"))
    elif kind == "unknown_touchpoint":
        event["touchpoint"] = rng.choice(("checkout", "teleport", "browse"))
    elif kind == "unsupported_touchpoint":
        event["channel"], event["touchpoint"] = rng.choice(_UNSUPPORTED)
    elif kind == "no_identity":
        event["identifiers"] = []
        event.pop("refs", None)
    else:
        event = _schema_violation(event, rng)
    return orjson.dumps(event).decode(), kind
