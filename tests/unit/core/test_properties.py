"""Invariants of the stitching core, checked on generated event streams (hypothesis)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_stitcher.catalog.default import default_catalog
from journey_stitcher.config import StitcherConfig, load_config
from journey_stitcher.replay import replay
from journey_stitcher.stitcher import Stitcher

CONFIG: StitcherConfig = load_config(None)
CATALOG = default_catalog()
PEPPER = b"property-pepper"
BASE = datetime(2026, 2, 1, tzinfo=UTC)
# Distinctive values, so that finding one in an output would mean it leaked in clear.
VALUES = {
    "customer_id": [f"CRMSECRET{n}" for n in range(3)],
    "email": [f"secret.person{n}@mail.example" for n in range(4)],
    "phone": ["+393471110001", "+393471110002", "+14155550123"],
    "device_id": [f"DEVSECRET{n}" for n in range(3)],
    "cookie_id": [f"COOKIESECRET{n}" for n in range(5)],
}
PAIRS = sorted((c, t) for c, ch in CATALOG.channels.items() for t in ch.touchpoints)
PAIRS += [(c, "identify") for c in ("web", "app", "store")]

identifiers = st.lists(
    st.tuples(st.sampled_from(sorted(VALUES)), st.integers(0, 4), st.booleans()),
    min_size=0, max_size=3,
)


@st.composite
def events(draw: st.DrawFn, verified_allowed: bool = True) -> dict[str, Any]:
    channel, touchpoint = draw(st.sampled_from(PAIRS))
    ids = [{"type": kind, "value": VALUES[kind][n % len(VALUES[kind])],
            "verified": verified and verified_allowed}
           for kind, n, verified in draw(identifiers)]
    event: dict[str, Any] = {
        "event_id": f"e{draw(st.integers(0, 10_000))}",
        "occurred_at": (BASE + timedelta(hours=draw(st.integers(0, 24 * 40)))).isoformat(),
        "channel": channel, "touchpoint": touchpoint, "identifiers": ids,
    }
    refs = draw(st.dictionaries(st.sampled_from(["order_id", "case_id", "product_id"]),
                                st.sampled_from(["R1", "R2", "R3"]), max_size=2))
    if refs:
        event["refs"] = refs
    if draw(st.booleans()):
        event["device"] = {"id": draw(st.sampled_from(VALUES["device_id"]))}
    if draw(st.integers(0, 3)) == 0:
        event["outcome"] = "completed"
    if draw(st.integers(0, 15)) == 0:
        event["consent"] = {"stitching": False}
    return event


def unique_ids(stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every event its own id (the strategy may draw the same one twice)."""
    return [{**event, "event_id": f"{event['event_id']}-{n}"} for n, event in enumerate(stream)]


def run(lines: list[bytes], pepper: bytes = PEPPER) -> tuple[bytes, bytes]:
    out, dlq = io.BytesIO(), io.BytesIO()
    replay(Stitcher(CONFIG, pepper), lines, out, dlq, until=BASE + timedelta(days=90))
    return out.getvalue(), dlq.getvalue()


def encode(stream: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(event) for event in stream]


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(events(), max_size=25))
def test_replay_is_deterministic(stream: list[dict[str, Any]]) -> None:
    """The same input replayed twice gives byte-identical outputs and rejections."""
    lines = encode(unique_ids(stream))
    assert run(lines) == run(lines)


@FAST
@given(st.lists(events(), min_size=1, max_size=20), st.data())
def test_a_duplicate_changes_nothing(stream: list[dict[str, Any]], data: st.DataObject) -> None:
    """Redelivering events re-emits their outputs identically and leaves the rest unchanged."""
    stream = unique_ids(stream)
    stitcher_a, stitcher_b = Stitcher(CONFIG, PEPPER), Stitcher(CONFIG, PEPPER)
    plain: list[Any] = []
    with_dupes: list[Any] = []
    for event in stream:
        raw = orjson.dumps(event)
        first = _outputs(stitcher_a, raw)
        plain.append(first)
        with_dupes.append(_outputs(stitcher_b, raw))
        if data.draw(st.booleans()):
            again = _outputs(stitcher_b, raw)
            if isinstance(first, str):
                assert again == first
            else:  # the first run may also have expired other journeys as time moved on
                moved_on = len(first) - len(again)
                assert first[moved_on:] == again
                assert all(e["type"] == "journey.abandoned" for e in first[:moved_on])
    assert plain == with_dupes


def _outputs(stitcher: Stitcher, raw: bytes) -> Any:
    from journey_stitcher.errors import InvalidInput

    try:
        return stitcher.process_line(raw)
    except InvalidInput as rejection:
        return rejection.reason


@FAST
@given(st.lists(events(verified_allowed=False), max_size=30))
def test_unverified_identifiers_never_merge(stream: list[dict[str, Any]]) -> None:
    """Without a verified identifier in any event, no two profiles are ever merged."""
    out, _ = run(encode(unique_ids(stream)))
    assert b'"identity.merged"' not in out


@FAST
@given(st.lists(st.one_of(
    events().map(orjson.dumps),
    st.sampled_from([b"{not json", b"[]", b'{"event_id": 1}', b"", b"\xff\xfe",
                     b'{"event_id":"x","occurred_at":"2026-01-01T00:00:00Z","channel":"fax",'
                     b'"touchpoint":"inform","identifiers":[{"type":"email","value":"a@b.co"}]}']),
), max_size=25))
def test_every_line_ends_as_outputs_or_one_dead_letter(lines: list[bytes]) -> None:
    """Each input line is either accepted or rejected exactly once, with its line number."""
    stitcher = Stitcher(CONFIG, PEPPER)
    out, dlq = io.BytesIO(), io.BytesIO()
    summary = replay(stitcher, lines, out, dlq)
    rejected = [orjson.loads(line) for line in dlq.getvalue().splitlines()]
    numbers = [r["line"] for r in rejected]
    assert len(numbers) == len(set(numbers))
    assert summary.accepted + len(rejected) == len(lines)
    assert all(r["reason"] and r["message"] for r in rejected)


@FAST
@given(st.lists(events(), max_size=25))
def test_no_identifier_value_leaves_in_clear(stream: list[dict[str, Any]]) -> None:
    """With hashing on, no identifier or device value appears anywhere in the outputs."""
    out, _ = run(encode(unique_ids(stream)))
    text = out.decode()
    for values in VALUES.values():
        for value in values:
            assert value not in text
            assert value.lower() not in text
