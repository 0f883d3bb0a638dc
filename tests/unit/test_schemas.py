"""The JSON Schemas of `schemas/` and the code agree: what one accepts the other accepts."""

from __future__ import annotations

import calendar
import copy
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from journey_stitcher.config import StitcherConfig
from journey_stitcher.errors import InvalidInput
from journey_stitcher.interactions.parse import parse_interaction
from journey_stitcher.outputs import OUTPUT_TYPES
from journey_stitcher.schemas import SCHEMA_IDS, SCHEMAS_DIR, load_schema, schema_path

STRUCTURAL = {"invalid_json", "schema_violation"}
CONFIG = StitcherConfig()

# ---------------------------------------------------------------------------------------------
# Validators. jsonschema checks `date-time` only with rfc3339-validator installed; this checker
# is written from RFC 3339 §5.6 on its own, so it does not share a bug with the parser. Leap
# seconds (:60) are refused on purpose: the product cannot represent them.

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))",
    re.ASCII,
)
FORMATS = FormatChecker(formats=())


def is_rfc3339_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    offset_hour, offset_minute = (int(g or 0) for g in match.groups()[6:])
    return (
        year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour <= 23 and minute <= 59 and second <= 59
        and offset_hour <= 23 and offset_minute <= 59
    )


def is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


def is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or (bool(value) and " " not in value)


FORMATS.checks("date-time")(is_rfc3339_date_time)
FORMATS.checks("uri")(is_uri)
FORMATS.checks("uri-reference")(is_uri_reference)


def _registry() -> Registry[Any]:
    resources = [
        (schema["$id"], Resource.from_contents(schema))
        for schema in (load_schema(name) for name in SCHEMA_IDS)
    ]
    return Registry[Any]().with_resources(resources)


REGISTRY = _registry()


def validator(name_or_ref: str) -> Draft202012Validator:
    """A validator for schema `name`, or for a `$ref` such as `dlq-record#/$defs/...`."""
    if name_or_ref in SCHEMA_IDS:
        schema = load_schema(name_or_ref)
    else:
        name, _, pointer = name_or_ref.partition("#")
        schema = {"$ref": f"{SCHEMA_IDS[name]}#{pointer}"}
    return Draft202012Validator(schema, registry=REGISTRY, format_checker=FORMATS)


INTERACTION = validator("interaction")


def parse_reason(event: object) -> str | None:
    """The reason parse_interaction rejects `event` with, or None when it accepts it."""
    try:
        parse_interaction(orjson.dumps(event), CONFIG)
    except InvalidInput as rejection:
        return rejection.reason
    return None


def assert_agreement(event: object) -> None:
    reason = parse_reason(event)
    schema_valid = INTERACTION.is_valid(event)
    assert schema_valid == (reason not in STRUCTURAL), (
        f"schema says {'valid' if schema_valid else 'invalid'}, parser says {reason}: {event!r}"
    )


# ---------------------------------------------------------------------------------------------
# The schema files themselves


def test_every_schema_is_valid_draft_2020_12_and_has_its_id() -> None:
    """Each schema file passes the metaschema and its $id is the one code puts in dataschema."""
    for name, schema_id in SCHEMA_IDS.items():
        schema = load_schema(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == schema_id == f"https://journey-stitcher.dev/schemas/{name}.v1.json"
        assert schema_path(name).name == f"{name}.v1.json"


def test_schemas_directory_holds_exactly_the_known_schemas() -> None:
    """No schema file is forgotten by SCHEMA_IDS, and none is missing."""
    assert {p.name for p in SCHEMAS_DIR.glob("*.json")} == {
        f"{name}.v1.json" for name in SCHEMA_IDS
    }


def test_every_output_type_has_a_data_schema() -> None:
    """The core's output types and the data schemas are the same set."""
    assert set(OUTPUT_TYPES) == set(SCHEMA_IDS) - {"interaction", "cloudevent", "dlq-record"}
    assert load_schema("cloudevent")["properties"]["type"]["enum"] == list(OUTPUT_TYPES)


def test_unknown_schema_names_are_refused() -> None:
    """schema_path does not invent files."""
    with pytest.raises(KeyError, match=r"no schema named 'journey\.paused'"):
        schema_path("journey.paused")


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve_pointer(document: Any, pointer: str) -> Any:
    for part in filter(None, pointer.split("/")):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def test_asyncapi_document_describes_the_five_topics_with_resolvable_references() -> None:
    """Every $ref of asyncapi.yaml resolves, and the channels are the topics of SPEC §2."""
    document = yaml.safe_load((SCHEMAS_DIR / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert document["asyncapi"] == "3.0.0"
    assert {c["address"] for c in document["channels"].values()} == {
        "interactions", "journeys", "handoffs", "identities", "interactions.dlq",
    }
    for ref in _refs(document):
        target, _, pointer = ref.partition("#")
        if target:
            assert (SCHEMAS_DIR / target).is_file(), ref
            _resolve_pointer(orjson.loads((SCHEMAS_DIR / target).read_bytes()), pointer)
        else:
            _resolve_pointer(document, pointer)
    named = {m["name"] for m in document["components"]["messages"].values()}
    assert set(OUTPUT_TYPES) <= named


# ---------------------------------------------------------------------------------------------
# Input: hand-written samples, each invalid one breaking one rule


def event(**changes: Any) -> dict[str, Any]:
    """A complete, valid web event: the customer compares two phones, logged in."""
    base: dict[str, Any] = {
        "event_id": "web-7f3a9c",
        "occurred_at": "2024-05-01T09:30:00.250+02:00",
        "channel": "web",
        "touchpoint": "compare",
        "identifiers": [
            {"type": "cookie_id", "value": "ck-5b2e"},
            {"type": "email", "value": "giulia.bianchi@example.it", "verified": True},
        ],
        "refs": {"product_id": "sku-991", "cart_id": "cart-3310"},
        "outcome": "completed",
        "device": {"id": "dev-a1", "type": "smartphone"},
        "session_id": "sess-19",
        "source": "web-adapter",
        "consent": {"stitching": True},
        "attributes": {"page": "/compare", "items": ["sku-991", "sku-992"]},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


DROP: Any = object()
MINIMAL = {
    "event_id": "c-1",
    "occurred_at": "2024-05-01T08:00:00Z",
    "channel": "courier",
    "touchpoint": "delivery",
    "refs": {"order_id": "ord-77"},
}

VALID = [
    pytest.param(event(), id="complete"),
    pytest.param(MINIMAL, id="required-only"),
    pytest.param(event(identifiers=[]), id="empty-identifiers"),
    pytest.param(event(event_id="x" * 128), id="event-id-128"),
    pytest.param(event(occurred_at="2024-05-01t07:30:00z"), id="lower-case-t-z"),
    pytest.param(event(occurred_at="2024-05-01T07:30:00-00:00"), id="unknown-local-offset"),
    pytest.param(event(occurred_at="2024-02-29T23:59:59.123456789+14:00"), id="leap-day-ns"),
    pytest.param(event(refs={}), id="empty-refs"),
    pytest.param(event(device={"id": "d"}), id="device-without-type"),
    pytest.param(event(consent={"stitching": False}), id="consent-refused"),
    pytest.param(event(attributes={}), id="empty-attributes"),
    pytest.param(event(session_id=""), id="empty-session-id"),
    pytest.param(event(identifiers=[{"type": "phone", "value": " ", "verified": False}]),
                 id="blank-value-is-the-cores-business"),
    pytest.param(event(touchpoint="identify", channel="ads"), id="identify-anywhere"),
]

INVALID = [
    pytest.param([event()], "event", id="array"),
    pytest.param("event", "event", id="string"),
    pytest.param(None, "event", id="null"),
    pytest.param(event(ip="10.0.0.1"), "ip", id="unknown-field"),
    pytest.param(event(event_id=DROP), "event_id", id="missing-event-id"),
    pytest.param(event(event_id=""), "event_id", id="empty-event-id"),
    pytest.param(event(event_id="x" * 129), "event_id", id="event-id-129"),
    pytest.param(event(event_id=42), "event_id", id="numeric-event-id"),
    pytest.param(event(occurred_at=DROP), "occurred_at", id="missing-time"),
    pytest.param(event(occurred_at="2024-05-01T09:30:00"), "occurred_at", id="naive-time"),
    pytest.param(event(occurred_at="2024-05-01 09:30:00Z"), "occurred_at", id="space"),
    pytest.param(event(occurred_at="2024-05-01"), "occurred_at", id="date-only"),
    pytest.param(event(occurred_at="20240501T093000Z"), "occurred_at", id="iso-basic"),
    pytest.param(event(occurred_at="2024-05-01T09:30Z"), "occurred_at", id="no-seconds"),
    pytest.param(event(occurred_at="2024-02-30T09:30:00Z"), "occurred_at", id="feb-30"),
    pytest.param(event(occurred_at="2024-05-01T24:00:00Z"), "occurred_at", id="hour-24"),
    pytest.param(event(occurred_at="2024-05-01T09:30:00+01:60"), "occurred_at", id="offset-60"),
    pytest.param(event(occurred_at="2024-05-01T09:30:00+0200"), "occurred_at", id="offset-colon"),
    pytest.param(event(occurred_at="2024-05-01T09:30:00,5Z"), "occurred_at", id="comma-fraction"),
    pytest.param(event(occurred_at="2024-05-01T09:30:60Z"), "occurred_at", id="leap-second"),
    pytest.param(event(occurred_at=1714548600), "occurred_at", id="epoch-number"),
    pytest.param(event(channel=DROP), "channel", id="missing-channel"),
    pytest.param(event(channel=""), "channel", id="empty-channel"),
    pytest.param(event(touchpoint=["compare"]), "touchpoint", id="list-touchpoint"),
    pytest.param(event(identifiers={"type": "email"}), "identifiers", id="identifiers-object"),
    pytest.param(event(identifiers=["ck-5b2e"]), "identifiers[0]", id="identifier-string"),
    pytest.param(event(identifiers=[{"type": "email"}]), "identifiers[0].value",
                 id="identifier-without-value"),
    pytest.param(event(identifiers=[{"value": "x"}]), "identifiers[0].type",
                 id="identifier-without-type"),
    pytest.param(event(identifiers=[{"type": "email", "value": "a@b.it"},
                                    {"type": "email", "value": ""}]),
                 "identifiers[1].value", id="identifier-empty-value"),
    pytest.param(event(identifiers=[{"type": "phone", "value": 3912345678}]),
                 "identifiers[0].value", id="identifier-numeric-value"),
    pytest.param(event(identifiers=[{"type": "email", "value": "a@b.it", "verified": "yes"}]),
                 "identifiers[0].verified", id="verified-string"),
    pytest.param(event(identifiers=[{"type": "email", "value": "a@b.it", "verified": None}]),
                 "identifiers[0].verified", id="verified-null"),
    pytest.param(event(identifiers=[{"type": "email", "value": "a@b.it", "trust": 1}]),
                 "identifiers[0].trust", id="identifier-extra-field"),
    pytest.param(event(refs=[]), "refs", id="refs-array"),
    pytest.param(event(refs={"order_id": 1234}), "refs.order_id", id="ref-number"),
    pytest.param(event(outcome="done"), "outcome", id="outcome-unknown"),
    pytest.param(event(outcome=None), "outcome", id="outcome-null"),
    pytest.param(event(device={"type": "smartphone"}), "device.id", id="device-without-id"),
    pytest.param(event(device={"id": ""}), "device.id", id="device-empty-id"),
    pytest.param(event(device={"id": "d", "os": "ios"}), "device.os", id="device-extra"),
    pytest.param(event(device={"id": "d", "type": 3}), "device.type", id="device-type-number"),
    pytest.param(event(device="dev-a1"), "device", id="device-string"),
    pytest.param(event(session_id=19), "session_id", id="session-number"),
    pytest.param(event(source=None), "source", id="source-null"),
    pytest.param(event(consent={}), "consent.stitching", id="consent-empty"),
    pytest.param(event(consent={"stitching": "false"}), "consent.stitching",
                 id="consent-string"),
    pytest.param(event(consent={"stitching": True, "marketing": False}), "consent.marketing",
                 id="consent-extra"),
    pytest.param(event(consent=False), "consent", id="consent-boolean"),
    pytest.param(event(attributes=["a"]), "attributes", id="attributes-array"),
]


@pytest.mark.parametrize("sample", VALID)
def test_valid_samples_pass_both_schema_and_parser(sample: dict[str, Any]) -> None:
    """A valid event is valid for the schema and parses without any rejection."""
    INTERACTION.validate(sample)
    assert parse_reason(sample) is None


@pytest.mark.parametrize(("sample", "path"), INVALID)
def test_invalid_samples_fail_both_schema_and_parser(sample: object, path: str) -> None:
    """An event breaking one rule fails the schema, and the parser names the field."""
    assert not INTERACTION.is_valid(sample)
    with pytest.raises(InvalidInput) as rejection:
        parse_interaction(orjson.dumps(sample), CONFIG)
    assert rejection.value.reason == "schema_violation"
    assert rejection.value.message.startswith(f"{path}: "), rejection.value.message


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"event_id": "a",}', b"\xff\xfe{}", b'{"event_id": "\xe0\x80"}', b"NaN",
     b'{"a": 1e999}'],
)
def test_bytes_that_are_not_utf8_json_are_invalid_json(raw: bytes) -> None:
    """Truncated, malformed, non-UTF-8 or non-standard JSON is rejected as invalid_json."""
    with pytest.raises(InvalidInput) as rejection:
        parse_interaction(raw, CONFIG)
    assert rejection.value.reason == "invalid_json"


def test_size_is_checked_before_anything_else() -> None:
    """A record over max_event_bytes is too_large even when it is not JSON at all."""
    small = StitcherConfig(max_event_bytes=100)
    with pytest.raises(InvalidInput, match="too_large: event: 101 bytes, more than the limit"):
        parse_interaction(b"x" * 101, small)
    padded = orjson.dumps(event(attributes={"pad": "y" * 200}))
    assert parse_interaction(padded, StitcherConfig(max_event_bytes=len(padded))).event_id


# ---------------------------------------------------------------------------------------------
# What only the catalog can tell: schema-valid events rejected for meaning


@pytest.mark.parametrize(
    ("sample", "reason", "message"),
    [
        (event(channel="fax"), "unknown_channel", "channel: 'fax' is not in the catalog"),
        (event(touchpoint="wishlist"), "unknown_touchpoint",
         "touchpoint: 'wishlist' is not in the catalog"),
        (event(identifiers=[{"type": "tax_code", "value": "BNCGLI80A41H501X"}]),
         "unknown_identifier_type",
         "identifiers[0].type: 'tax_code' is not an identifier type of the catalog"),
        (event(channel="courier", touchpoint="purchase"), "unsupported_touchpoint",
         "touchpoint: channel 'courier' does not support 'purchase'"),
    ],
)
def test_catalog_checks_follow_the_schema_checks(
    sample: dict[str, Any], reason: str, message: str
) -> None:
    """Unknown catalog names and unsupported touchpoints are schema-valid but rejected."""
    INTERACTION.validate(sample)
    with pytest.raises(InvalidInput) as rejection:
        parse_interaction(orjson.dumps(sample), CONFIG)
    assert (rejection.value.reason, rejection.value.message) == (reason, message)


def test_a_broken_field_wins_over_an_unknown_channel() -> None:
    """Schema checks come first, so the reason does not depend on the catalog in force."""
    assert parse_reason(event(channel="fax", event_id="")) == "schema_violation"


def test_flag_mode_accepts_an_unsupported_touchpoint_and_marks_it() -> None:
    """With capability_check: flag the courier's purchase goes through, flagged."""
    raw = orjson.dumps(event(channel="courier", touchpoint="purchase"))
    interaction = parse_interaction(raw, StitcherConfig(capability_check="flag"))
    assert interaction.capability_violation
    assert (interaction.channel, interaction.touchpoint) == ("courier", "purchase")
    assert not parse_interaction(orjson.dumps(event()), CONFIG).capability_violation


def test_rejection_messages_never_repeat_identifier_values() -> None:
    """The DLQ carries no personal data: the e-mail of a rejected event is not in the message."""
    for sample in (
        event(identifiers=[{"type": "tax_code", "value": "giulia@example.it"}]),
        event(identifiers=[{"type": "email", "value": "giulia@example.it", "verified": "y"}]),
        event(identifiers=[{"type": "email", "value": "giulia@example.it", "x": 1}]),
    ):
        with pytest.raises(InvalidInput) as rejection:
            parse_interaction(orjson.dumps(sample), CONFIG)
        assert "giulia" not in rejection.value.message


def test_parsed_event_carries_every_field_with_time_in_utc() -> None:
    """occurred_at becomes an aware UTC datetime; every optional field is kept."""
    interaction = parse_interaction(orjson.dumps(event()), CONFIG)
    assert interaction.occurred_at == datetime(2024, 5, 1, 7, 30, 0, 250000, tzinfo=UTC)
    assert interaction.occurred_at.tzinfo is UTC
    assert [(i.type, i.verified) for i in interaction.identifiers] == [
        ("cookie_id", False), ("email", True)
    ]
    assert interaction.refs == {"product_id": "sku-991", "cart_id": "cart-3310"}
    assert (interaction.outcome, interaction.session_id, interaction.source) == (
        "completed", "sess-19", "web-adapter"
    )
    assert interaction.device is not None
    assert (interaction.device.id, interaction.device.type) == ("dev-a1", "smartphone")
    assert interaction.consent_stitching
    assert interaction.attributes == {"page": "/compare", "items": ["sku-991", "sku-992"]}


def test_absent_optional_fields_take_their_defaults() -> None:
    """The courier scan with only an order number has no identifiers and full consent."""
    interaction = parse_interaction(orjson.dumps(MINIMAL), CONFIG)
    assert interaction.identifiers == ()
    assert (interaction.outcome, interaction.device, interaction.attributes) == (None, None, None)
    assert interaction.consent_stitching


# ---------------------------------------------------------------------------------------------
# Input: random mutations of valid events


_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8)
_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=5,
)
_TIMESTAMPS = st.builds(
    "{}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(1970, 2100), st.integers(0, 13), st.integers(0, 32),
    st.sampled_from(["T", "t", " ", "_", ""]), st.integers(0, 25), st.integers(0, 61),
    st.integers(0, 61), st.sampled_from(["", ".5", ".123456", ".1234567890", ",5", "."]),
    st.sampled_from(["Z", "z", "", "+00:00", "-05:30", "+14:00", "+24:00", "+01:60", "+0100",
                     "+01", "-00:00", " Z"]),
)
_EVENTS = st.builds(
    lambda keep, identifiers: {
        **{k: v for k, v in event(identifiers=identifiers).items() if k in keep},
        **{k: v for k, v in MINIMAL.items() if k in ("event_id", "occurred_at")},
        "channel": "web", "touchpoint": "compare",
    },
    st.sets(st.sampled_from(sorted(event()))),
    st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["email", "cookie_id", "phone"]),
             "value": st.sampled_from(["a@b.it", "ck-1", "+39 06 1234567"])},
            optional={"verified": st.booleans()},
        ),
        max_size=3,
    ),
)


def _slots(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every (container path, key) of a JSON document, nested ones included."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        yield (*path, key)
        if isinstance(value, dict | list) and value:
            yield from _slots(value, (*path, key))


def _mutate(document: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    mutated = copy.deepcopy(document)
    slot = data.draw(st.sampled_from(list(_slots(mutated))))
    parent: Any = mutated
    for key in slot[:-1]:
        parent = parent[key]
    key = slot[-1]
    action = data.draw(st.sampled_from(["drop", "retype", "extra", "timestamp", "empty"]))
    if action == "drop":
        del parent[key]
    elif action == "retype":
        parent[key] = data.draw(_JSON)
    elif action == "extra" and isinstance(parent, dict):
        parent[data.draw(_TEXT)] = data.draw(_JSON)
    elif action == "extra":
        parent.append(data.draw(_JSON))
    elif action == "timestamp":
        parent[key] = data.draw(_TIMESTAMPS)
    else:
        parent[key] = data.draw(st.sampled_from(["", [], {}]))
    return mutated


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_EVENTS, data=st.data())
def test_schema_and_parser_agree_on_random_mutations(
    document: dict[str, Any], data: st.DataObject
) -> None:
    """Dropping, retyping, adding or emptying any field: schema-valid iff the parser accepts
    the structure."""
    assert_agreement(document)
    assert_agreement(_mutate(document, data))


@settings(max_examples=400, deadline=None)
@given(timestamp=_TIMESTAMPS)
def test_schema_and_parser_agree_on_timestamps(timestamp: str) -> None:
    """Every near-miss of RFC 3339 is judged the same by the schema and the parser."""
    assert_agreement({**MINIMAL, "occurred_at": timestamp})


# ---------------------------------------------------------------------------------------------
# Outputs: one valid and one invalid example of each data schema


def _journey(**extra: Any) -> dict[str, Any]:
    return {
        "customer_id": "cus-4be1", "journey_id": "jou-90aa", "family": "purchase",
        "event_id": "web-7f3a9c", "channel": "web", "touchpoint": "compare",
        "phase": "pre_purchase", "occurred_at": "2024-05-01T07:30:00.250Z",
        "refs": {"product_id": "sku-991"}, "device_id": "hm-3f0c", "capability_violation": False,
        **extra,
    }


def _side(event_id: str, channel: str, touchpoint: str, at: str) -> dict[str, Any]:
    return {"event_id": event_id, "channel": channel, "touchpoint": touchpoint,
            "device_id": None, "occurred_at": at}


OUTPUT_EXAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "journey.started": (
        _journey(sequence=1),
        _journey(sequence=2),
    ),
    "journey.continued": (
        _journey(sequence=2, previous_event_id="app-11", previous_channel="app",
                 previous_touchpoint="discover", gap_seconds=5400.0, same_channel=False),
        _journey(sequence=2, previous_event_id="app-11", previous_channel="app",
                 previous_touchpoint="discover", gap_seconds=-1, same_channel=False),
    ),
    "journey.handoff": (
        _journey(
            kind="channel_switch",
            **{"from": _side("app-11", "app", "discover", "2024-05-01T06:00:00Z"),
               "to": _side("web-7f3a9c", "web", "compare", "2024-05-01T07:30:00.250Z")},
            gap_seconds=5400.25, assisted_to=False,
            context={"touchpoints": [{"channel": "app", "touchpoint": "discover",
                                      "occurred_at": "2024-05-01T06:00:00Z"}],
                     "refs": {"product_id": ["sku-991"]}},
        ),
        _journey(
            kind="channel_switch",
            **{"from": _side("app-11", "app", "discover", "2024-05-01T06:00:00Z"),
               "to": _side("web-7f3a9c", "web", "compare", "2024-05-01T07:30:00.250Z")},
            gap_seconds=5400.25, assisted_to=False,
            context={"touchpoints": [{"channel": "app", "touchpoint": "discover",
                                      "occurred_at": "2024-05-01T06:00:00Z"}] * 11,
                     "refs": {}},
        ),
    ),
    "journey.completed": (
        _journey(touchpoints=3, channels=["app", "web"], duration_seconds=7200),
        _journey(touchpoints=3, channels=["app", "web", "app"], duration_seconds=7200),
    ),
    "journey.abandoned": (
        _journey(idle_seconds=1209600, abandoned_at="2024-05-15T07:30:00.250Z", touchpoints=2),
        _journey(idle_seconds=1209600, abandoned_at="2024-05-15T09:30:00+02:00", touchpoints=2),
    ),
    "identity.merged": (
        {"survivor_id": "cus-4be1", "merged_id": "cus-0a9d", "event_id": "web-7f3a9c",
         "identifier_types": ["cookie_id"]},
        {"survivor_id": "cus-4be1", "event_id": "web-7f3a9c", "identifier_types": ["cookie_id"]},
    ),
    "identity.conflict": (
        {"customer_ids": ["cus-4be1", "cus-0a9d"], "identifier_type": "customer_id",
         "reason": "unique_conflict", "event_id": "crm-5"},
        {"customer_ids": [], "identifier_type": None, "reason": "merge_limit",
         "event_id": "crm-5"},
    ),
}


def envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": "ce-1c9f", "source": "journey-stitcher", "type": event_type,
        "subject": "cus-4be1", "time": "2024-05-01T07:30:00.250Z",
        "datacontenttype": "application/json", "dataschema": SCHEMA_IDS[event_type],
        "data": data,
    }


def test_output_examples_cover_every_type() -> None:
    """There is an example pair for every output type."""
    assert set(OUTPUT_EXAMPLES) == set(OUTPUT_TYPES)


@pytest.mark.parametrize("event_type", list(OUTPUT_EXAMPLES))
def test_valid_output_data_passes_its_schema_and_the_envelope(event_type: str) -> None:
    """A well-formed data payload is valid alone and inside its CloudEvent."""
    valid, _ = OUTPUT_EXAMPLES[event_type]
    validator(event_type).validate(valid)
    validator("cloudevent").validate(envelope(event_type, valid))


@pytest.mark.parametrize("event_type", list(OUTPUT_EXAMPLES))
def test_invalid_output_data_fails_its_schema_and_the_envelope(event_type: str) -> None:
    """A payload breaking one rule is invalid alone and inside its CloudEvent."""
    _, invalid = OUTPUT_EXAMPLES[event_type]
    assert not validator(event_type).is_valid(invalid)
    assert not validator("cloudevent").is_valid(envelope(event_type, invalid))


@pytest.mark.parametrize("event_type", ["journey.started", "journey.handoff", "identity.merged"])
def test_every_data_field_is_required(event_type: str) -> None:
    """Dropping any one top-level data field makes the payload invalid."""
    valid, _ = OUTPUT_EXAMPLES[event_type]
    for name in valid:
        assert not validator(event_type).is_valid({k: v for k, v in valid.items() if k != name})


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"time": "2024-05-01T09:30:00+02:00"}, "time not in UTC with Z"),
        ({"dataschema": SCHEMA_IDS["journey.continued"]}, "dataschema of another type"),
        ({"type": "journey.paused"}, "unknown type"),
        ({"datacontenttype": "text/plain"}, "content type"),
        ({"Trace-Parent": "00-abc"}, "attribute name outside CloudEvents naming"),
        ({"subject": ""}, "empty subject"),
    ],
)
def test_envelope_rules_are_enforced(change: dict[str, Any], why: str) -> None:
    """The CloudEvent envelope refuses each deviation from what the product emits."""
    valid, _ = OUTPUT_EXAMPLES["journey.started"]
    assert not validator("cloudevent").is_valid({**envelope("journey.started", valid), **change})


def test_envelope_accepts_extension_attributes_and_unknown_data_fields() -> None:
    """Consumers' schema tolerates additions: a traceparent extension and a new data field."""
    valid, _ = OUTPUT_EXAMPLES["journey.started"]
    extended = {**envelope("journey.started", {**valid, "score": 0.9}), "traceparent": "00-a"}
    validator("cloudevent").validate(extended)


# ---------------------------------------------------------------------------------------------
# The dead-letter contract


def test_replay_dlq_lines_follow_the_dlq_schema() -> None:
    """A replay --dlq line has a 1-based line, a snake_case reason and a message."""
    dlq = validator("dlq-record")
    dlq.validate({"line": 3, "reason": "schema_violation",
                  "message": "identifiers[1].value: must be a non-empty string"})
    dlq.validate({"line": 9, "reason": "missing_header", "message": "adapter reason"})
    assert not dlq.is_valid({"line": 0, "reason": "too_large", "message": "x"})
    assert not dlq.is_valid({"line": 1, "reason": "Too Large", "message": "x"})
    assert not dlq.is_valid({"line": 1, "reason": "too_large"})


def test_kafka_dlq_headers_follow_the_dlq_schema() -> None:
    """The DLQ record's headers name reason, message and the source coordinates."""
    headers = validator("dlq-record#/$defs/kafka_headers")
    good = {"error.reason": "invalid_json", "error.message": "event: not a UTF-8 JSON document",
            "source.topic": "interactions", "source.partition": "3", "source.offset": "1042"}
    headers.validate(good)
    assert headers.is_valid({**good, "source.offset": "-1"})  # the gateway: no source offset
    assert not headers.is_valid({**good, "source.offset": "-2"})
    assert not headers.is_valid({k: v for k, v in good.items() if k != "error.reason"})


def test_parser_reasons_are_valid_dlq_reasons() -> None:
    """Every reason the parser can give is documented in the DLQ schema."""
    documented = load_schema("dlq-record")["$defs"]["reason"]["examples"]
    for reason in ("too_large", "invalid_json", "schema_violation", "unknown_channel",
                   "unknown_touchpoint", "unknown_identifier_type", "unsupported_touchpoint",
                   "no_identity"):
        assert reason in documented


def test_a_huge_unknown_field_name_is_cut_in_the_message() -> None:
    """A 10 kB key does not end up whole in the DLQ headers."""
    with pytest.raises(InvalidInput) as rejection:
        parse_interaction(orjson.dumps(event(**{"k" * 10_000: 1})), CONFIG)
    assert rejection.value.reason == "schema_violation"
    assert len(rejection.value.message) < 400


@pytest.mark.parametrize(
    ("entry", "reason", "message"),
    [
        ({"type": "email", "value": "ann@secret.com", "verified": "ann@secret.com"},
         "schema_violation", "identifiers[0].verified: must be true or false (got a string)"),
        ({"type": "email", "value": "x@y.com", "ann@secret.com": True},
         "schema_violation", "identifiers[0].<not shown>: unknown field (allowed: type, value, verified)"),
        ({"type": "ann@secret.com", "value": "email"}, "unknown_identifier_type",
         "identifiers[0].type: <not shown> is not an identifier type of the catalog"),
        ({"type": "email", "value": "x@y.com", "extra": 1},
         "schema_violation", "identifiers[0].extra: unknown field (allowed: type, value, verified)"),
    ],
)
def test_dlq_messages_never_echo_what_an_identifier_entry_holds(
    entry: dict[str, Any], reason: str, message: str
) -> None:
    """The DLQ contract: messages never contain identifier values, even one put in the wrong
    place (a key, `verified`, `type`); names that look like type names are still shown."""
    with pytest.raises(InvalidInput) as rejection:
        parse_interaction(orjson.dumps(event(identifiers=[entry])), CONFIG)
    assert (rejection.value.reason, rejection.value.message) == (reason, message)
    assert "secret" not in rejection.value.message
