"""Compact encodings of the core's state values, for Redis.

Times are integer microseconds since the epoch; field names are one letter because every
byte is multiplied by the number of customers. Outputs kept for re-emission are deflated
against a preset dictionary of the CloudEvent skeletons (`_OUTPUTS_DICTIONARY`), which
takes a journey event of ~700 bytes to ~200.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from sys import intern
from typing import Any

import orjson

from journey_stitcher.identity.model import CloudEvent, IdentityRecord, Profile
from journey_stitcher.journeys.model import CustomerJourneys, Journey, Touch
from journey_stitcher.outputs import rfc3339

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def compact(raw: bytes) -> bytes:
    """A right-sized copy of `raw`, for bytes kept long: what orjson returns occupies a
    few kilobytes of allocation whatever its length."""
    return bytes(memoryview(raw))


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
    """Most interactions only found their customer: then the record is just its id (one
    per interaction for 7 days, so every byte counts)."""
    if not record.outputs and not record.merged_ids:
        return record.customer_id.encode()
    return orjson.dumps({"c": record.customer_id, "o": record.outputs, "m": record.merged_ids})


def decode_record(raw: bytes | str) -> IdentityRecord:
    text = raw.encode() if isinstance(raw, str) else raw
    if not text.startswith(b"{"):  # customer ids never start with a brace
        return IdentityRecord(text.decode(), (), ())
    data = orjson.loads(text)
    return IdentityRecord(data["c"], tuple(data["o"]), tuple(data["m"]))


@lru_cache(maxsize=16_384)
def _encoded_touch(touch: Touch) -> orjson.Fragment:
    """One touch, encoded once: the journey a busy customer's interaction joins is encoded
    again, mostly with the same touches (unchanged journeys keep their stored form)."""
    # `at` is the input's own text; stored only when the canonical form differs from it.
    at = None if touch.at == rfc3339(touch.occurred_at) else touch.at
    return orjson.Fragment(compact(orjson.dumps([to_micros(touch.occurred_at), touch.event_id,
                                                 touch.channel, touch.touchpoint, touch.device_id, at])))


def _encode_journey(journey: Journey) -> dict[str, Any]:
    return {
        "i": journey.id, "f": journey.family, "s": journey.status, "r": journey.refs,
        "d": to_micros(journey.completed_at) if journey.completed_at else None,
        "t": [_encoded_touch(touch) for touch in journey.touches],
    }


class _StoredJourney:
    """One journey as stored (its own JSON), standing in for its touches until the rules look
    at them (`Journey.from_store`) and for its encoding while it is unchanged. Kept as bytes:
    the parsed form takes about four times the memory, in states the worker keeps decoded."""

    __slots__ = ("_last", "raw")

    def __init__(self, data: dict[str, Any]) -> None:
        self.raw = compact(orjson.dumps(data))  # the very bytes `encode_customer` wrote
        self._last = from_micros(data["t"][-1][0]) if data["t"] else None

    def last_moment(self) -> datetime:
        if self._last is None:
            raise IndexError("a journey without touches has no last one")
        return self._last

    def decode(self) -> list[Touch]:
        # Channels, touchpoints and a customer's few devices repeat touch after touch: one
        # string each (`sys.intern`) instead of one per touch, in states a worker keeps decoded.
        touches = []
        for micros, event_id, channel, touchpoint, device, at in orjson.loads(self.raw)["t"]:
            moment = from_micros(micros)
            touches.append(Touch(moment, event_id, intern(channel), intern(touchpoint),
                                 intern(device) if device is not None else None,
                                 at if at is not None else rfc3339(moment)))
        return touches


def _decode_journey(data: dict[str, Any]) -> Journey:
    completed = from_micros(data["d"]) if data["d"] is not None else None
    return Journey.from_store(data["i"], intern(data["f"]), data["s"], _StoredJourney(data),
                              data["r"], completed)


def _journey_fragment(journey: Journey) -> orjson.Fragment:
    """The journey's stored form, encoded once and kept on it until it changes: a busy
    customer's state is written batch after batch, usually with one journey changed. A
    journey read from Redis and not changed since is written back as it was read."""
    if journey.encoded is None:
        stored = journey.stored
        raw = stored.raw if isinstance(stored, _StoredJourney) \
            else compact(orjson.dumps(_encode_journey(journey)))
        journey.encoded = orjson.Fragment(raw)
    fragment: orjson.Fragment = journey.encoded
    return fragment


def encode_customer(state: CustomerJourneys) -> bytes:
    data: dict[str, Any] = {
        "c": state.customer_id,
        "j": [_journey_fragment(journey) for journey in state.journeys],
        "m": state.merged_into,
    }
    if state.position is not None:
        data["o"] = state.position
    return orjson.dumps(data)


def decode_customer(raw: bytes | str) -> CustomerJourneys:
    data = orjson.loads(raw)
    position = data.get("o")  # absent in states written before it existed
    return CustomerJourneys(data["c"], [_decode_journey(j) for j in data["j"]], data.get("m"),
                            position=(position[0], position[1]) if position else None)


# -- outputs kept for re-emission ----------------------------------------------------------

# Version 1 of the preset dictionary. Stored values depend on it byte for byte: never edit
# it; add a version 2 (and keep decoding 1) instead. zlib reaches the end of a dictionary
# most cheaply, so the most common fragments come last.
_OUTPUTS_DICTIONARY = b"".join([
    b'"kind":"device_switch","kind":"channel_switch","assisted_to":true,"assisted_to":false,',
    b'"context":{"touchpoints":[{"channel":"","touchpoint":"","occurred_at":""}],"refs":{}}',
    b'"from":{"event_id":"","channel":"","touchpoint":"","device_id":null,"occurred_at":""},',
    b'"to":{"event_id":"","channel":"","touchpoint":"","device_id":null,"occurred_at":""},',
    b'"touchpoints":,"channels":["web","app","email","sms","chat","voice","store","courier"],',
    b'"duration_seconds":,"idle_seconds":,"abandoned_at":"","product_id":"SKU-","order_id":"',
    b'"phase":"pre_purchase","phase":"purchase","phase":"post_purchase","family":"support",',
    b'"family":"purchase","sequence":1,"previous_event_id":"","previous_channel":"",',
    b'"previous_touchpoint":"","gap_seconds":,"same_channel":true,"same_channel":false,',
    b'{"specversion":"1.0","id":"","source":"journey-stitcher","type":"identity.merged",',
    b'"type":"journey.handoff","type":"journey.completed","type":"journey.abandoned",',
    b'"dataschema":"https://journey-stitcher.dev/schemas/journey.handoff.v1.json",',
    b'"type":"journey.started","type":"journey.continued","subject":"cus_","time":"2026-',
    b'"datacontenttype":"application/json",',
    b'"dataschema":"https://journey-stitcher.dev/schemas/journey.continued.v1.json",',
    b'"data":{"customer_id":"cus_","journey_id":"jrn_","family":"","event_id":"",',
    b'"channel":"","touchpoint":"","phase":"","occurred_at":"","refs":{},"device_id":null,',
    b'"device_id":"","capability_violation":false,',
])
_OUTPUTS_V1 = b"\x01"
# One interaction's outputs are ~1.8 KB of JSON (1 to 3 events), the dictionary 1.4 KB: an
# 8 KiB window (raw deflate, negative bits) and a 16 Ki-entry hash table hold them whole and
# give the very bytes of zlib's default 32 KiB and 64 Ki, while setting up and clearing those
# took two thirds of each call (the outputs of 667 replayed interactions: ~117 -> ~40 µs
# each). Inflating keeps a 32 KiB window: it reads streams written with any window up to
# that, values stored before this change included.
_DEFLATE_WINDOW_BITS = -13
_DEFLATE_MEMORY_LEVEL = 5


def encode_outputs(outputs: tuple[CloudEvent, ...]) -> bytes:
    """Outputs of one interaction as stored for re-emission: empty when there are none."""
    if not outputs:
        return b""
    deflate = zlib.compressobj(6, zlib.DEFLATED, _DEFLATE_WINDOW_BITS, _DEFLATE_MEMORY_LEVEL,
                               zdict=_OUTPUTS_DICTIONARY)
    return _OUTPUTS_V1 + deflate.compress(orjson.dumps(outputs)) + deflate.flush()


def decode_outputs(raw: bytes) -> tuple[CloudEvent, ...]:
    if not raw:
        return ()
    if raw[:1] != _OUTPUTS_V1:
        raise ValueError(f"unknown outputs encoding {raw[:1]!r}")
    inflate = zlib.decompressobj(-15, zdict=_OUTPUTS_DICTIONARY)
    return tuple(orjson.loads(inflate.decompress(raw[1:]) + inflate.flush()))
