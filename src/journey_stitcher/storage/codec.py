"""Compact JSON encodings of the core's state values, for Redis.

Times are integer microseconds since the epoch; field names are one letter because every
byte is multiplied by the number of customers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from journey_stitcher.identity.model import IdentityRecord, Profile
from journey_stitcher.journeys.model import CustomerJourneys, Journey, Touch

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def encode_profile(profile: Profile) -> bytes:
    return orjson.dumps({
        "i": profile.id, "c": to_micros(profile.created_at), "d": profile.identifiers,
        "r": profile.refs, "m": profile.merged_into, "n": profile.merges,
    })


def decode_profile(raw: bytes | str) -> Profile:
    data = orjson.loads(raw)
    return Profile(data["i"], from_micros(data["c"]), data["d"], data["r"], data["m"], data["n"])


def encode_record(record: IdentityRecord) -> bytes:
    return orjson.dumps({"c": record.customer_id, "o": record.outputs, "m": record.merged_ids})


def decode_record(raw: bytes | str) -> IdentityRecord:
    data = orjson.loads(raw)
    return IdentityRecord(data["c"], tuple(data["o"]), tuple(data["m"]))


def _encode_journey(journey: Journey) -> dict[str, Any]:
    return {
        "i": journey.id, "f": journey.family, "s": journey.status, "r": journey.refs,
        "d": to_micros(journey.completed_at) if journey.completed_at else None,
        "t": [[to_micros(t.occurred_at), t.event_id, t.channel, t.touchpoint, t.device_id, t.at]
              for t in journey.touches],
    }


def _decode_journey(data: dict[str, Any]) -> Journey:
    touches = [Touch(from_micros(t[0]), t[1], t[2], t[3], t[4], t[5]) for t in data["t"]]
    completed = from_micros(data["d"]) if data["d"] is not None else None
    return Journey(data["i"], data["f"], data["s"], touches, data["r"], completed)


def encode_customer(state: CustomerJourneys) -> bytes:
    return orjson.dumps({
        "c": state.customer_id,
        "j": [_encode_journey(journey) for journey in state.journeys],
        "o": state.outputs,
        "m": state.merged_into,
    })


def decode_customer(raw: bytes | str) -> CustomerJourneys:
    data = orjson.loads(raw)
    outputs = {event_id: tuple(emitted) for event_id, emitted in data["o"].items()}
    return CustomerJourneys(data["c"], [_decode_journey(j) for j in data["j"]], outputs,
                            data.get("m"))
