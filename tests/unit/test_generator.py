"""The traffic generator: valid, deterministic, realistic and (on request) conflict-free."""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from journey_stitcher.generator import (
    GeneratorConfig,
    anonymous_then_login,
    chat_escalated_to_call,
    click_and_collect,
    generate,
    generate_events,
    generate_lines,
    generate_with_truth,
    make_person,
    research_mobile_buy_laptop,
)
from journey_stitcher.generator.cli import generate as generate_command

# --- an independent reading of SPEC §3 and §4 -----------------------------------------------

CHANNELS = {
    "web", "app", "chat", "email", "social", "kiosk", "ads", "iot", "voice", "sms", "store",
    "courier", "field_service", "print",
}
TOUCHPOINTS = {
    "discover", "inform", "compare", "verify", "purchase", "pay", "order_delivery", "delivery",
    "pickup", "support", "complaint", "return", "service_visit", "feedback", "loyalty", "identify",
}
PHYSICAL_ONLY = {"delivery", "pickup", "service_visit"}
ALLOWED = {
    "ads": {"discover"},
    "print": {"discover"},
    "iot": {"discover", "support"},
    "courier": {"delivery", "pay", "return", "pickup"},
    "field_service": {"service_visit", "support", "pay", "feedback"},
    "store": TOUCHPOINTS,
    "sms": TOUCHPOINTS - PHYSICAL_ONLY - {"purchase"},
    **dict.fromkeys(("web", "app", "chat", "email", "social", "kiosk", "voice"),
                    TOUCHPOINTS - PHYSICAL_ONLY),
}
MAX_PER_PROFILE = {"customer_id": 1, "loyalty_id": 1, "email": 5, "phone": 5, "device_id": 20,
                   "cookie_id": 50}
OWNED = {"order_id", "cart_id", "case_id", "appointment_id"}
FIELDS = {"event_id", "occurred_at", "channel", "touchpoint", "identifiers", "refs", "outcome",
          "device", "session_id", "source", "consent", "attributes"}
REQUIRED = {"event_id", "occurred_at", "channel", "touchpoint", "identifiers"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def problems(event: dict[str, Any]) -> list[str]:
    """Everything that makes `event` invalid for the default catalog (empty when valid)."""
    found = []
    if not event.keys() >= REQUIRED or not event.keys() <= FIELDS:
        return [f"fields {sorted(event)}"]
    if not isinstance(event["event_id"], str) or not 1 <= len(event["event_id"]) <= 128:
        found.append("event_id")
    if not RFC3339.match(event["occurred_at"]):
        found.append("occurred_at")
    channel, touchpoint = event["channel"], event["touchpoint"]
    if channel not in CHANNELS or touchpoint not in TOUCHPOINTS:
        found.append("unknown channel or touchpoint")
    elif touchpoint != "identify" and touchpoint not in ALLOWED[channel]:
        found.append(f"unsupported {touchpoint} on {channel}")
    for identifier in event["identifiers"]:
        if (set(identifier) - {"type", "value", "verified"} or identifier["type"] not in MAX_PER_PROFILE
                or not isinstance(identifier["value"], str) or not identifier["value"]
                or not isinstance(identifier.get("verified", False), bool)):
            found.append(f"identifier {identifier}")
    refs = event.get("refs", {})
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in refs.items()):
        found.append("refs")
    if not event["identifiers"] and not OWNED & refs.keys():
        found.append("no identity")
    if event.get("outcome", "started") not in {"started", "completed", "failed", "abandoned"}:
        found.append("outcome")
    device = event.get("device", {"id": "x"})
    if not isinstance(device.get("id"), str) or set(device) - {"id", "type"}:
        found.append("device")
    for key in ("session_id", "source"):
        if key in event and not isinstance(event[key], str):
            found.append(key)
    if "consent" in event and not isinstance(event["consent"].get("stitching"), bool):
        found.append("consent")
    if not isinstance(event.get("attributes", {}), dict):
        found.append("attributes")
    return found


def normalized(identifier: dict[str, Any]) -> tuple[str, str]:
    """The identity-graph key of an identifier, normalized like SPEC §6.1 asks."""
    kind, value = identifier["type"], identifier["value"].strip()
    if kind == "email":
        value = value.lower()
    elif kind == "phone":
        value = value.replace(" ", "")
    return kind, value


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


SMALL = GeneratorConfig(events=4_000, customers=400, seed=7)
CONFLICT_FREE = GeneratorConfig(events=6_000, customers=600, seed=11, conflict_free=True)

# --- tests ----------------------------------------------------------------------------------


def test_same_configuration_gives_identical_bytes() -> None:
    """The same parameters and seed give byte-identical lines; another seed does not."""
    first = list(generate_lines(SMALL))
    assert first == list(generate_lines(SMALL))
    other = list(generate_lines(GeneratorConfig(events=4_000, customers=400, seed=8)))
    assert first != other


@pytest.mark.parametrize("cfg", [SMALL, CONFLICT_FREE], ids=["default", "conflict_free"])
def test_every_event_is_valid_for_the_default_catalog(cfg: GeneratorConfig) -> None:
    """Every event passes the §3 field rules and the §4 capability matrix; ids are unique."""
    events = list(generate_events(cfg))
    invalid = [(event, problems(event)) for event in events if problems(event)]
    assert invalid == []
    assert len({event["event_id"] for event in events}) == len(events)


@pytest.mark.parametrize("count", [0, 1, 17, 2_500])
def test_exactly_the_requested_number_of_events(count: int) -> None:
    """The generator yields exactly `events` events, whatever the population."""
    assert sum(1 for _ in generate_events(GeneratorConfig(events=count, customers=50))) == count


def test_recent_mode_stays_in_the_last_two_days_before_now() -> None:
    """Recent mode puts every event in the last two days, ending minutes before `now`."""
    now = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    cfg = GeneratorConfig(events=3_000, customers=300, seed=3, recent=True, now=now)
    times = [at(event) for event in generate_events(cfg)]
    assert len(times) == 3_000
    assert min(times) >= now - timedelta(days=2, minutes=5)
    assert max(times) <= now - timedelta(minutes=5)
    assert max(times) >= now - timedelta(hours=2)


def test_default_period_starts_at_the_configured_start() -> None:
    """Without recent mode, events fall in the 30 days after `start`."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    times = [at(event) for event in generate_events(GeneratorConfig(events=2_000, start=start))]
    assert start <= min(times) < start + timedelta(days=1)
    assert start + timedelta(days=28) < max(times) <= start + timedelta(days=30)


def test_conflict_free_traffic_never_links_two_people() -> None:
    """In conflict-free mode each identifier value and owned reference belongs to one person
    and no person exceeds a per-type maximum."""
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for event, person in generate_with_truth(CONFLICT_FREE):
        for identifier in event["identifiers"]:
            owners[normalized(identifier)].add(person)
        for kind, value in event.get("refs", {}).items():
            if kind in OWNED:
                owners[(kind, value)].add(person)
    assert [key for key, people in owners.items() if len(people) > 1] == []
    per_person: Counter[tuple[str, str]] = Counter()
    for (kind, _value), people in owners.items():
        if kind in MAX_PER_PROFILE:
            per_person[(next(iter(people)), kind)] += 1
    assert all(count <= MAX_PER_PROFILE[kind] for (_p, kind), count in per_person.items())


def test_conflict_free_events_never_glue_profiles_without_verification() -> None:
    """In conflict-free mode an event carries one identifier and no owned reference, or only
    owned references, or a verified identifier and no unverified one but cookies and device
    ids: whatever the arrival order, nothing links two profiles without verification."""
    for event in generate_events(CONFLICT_FREE):
        identifiers = event["identifiers"]
        if any(i["verified"] for i in identifiers):
            assert all(i["verified"] or i["type"] in {"cookie_id", "device_id"}
                       for i in identifiers), event
        elif identifiers:
            assert len(identifiers) == 1, event
            assert not OWNED & event.get("refs", {}).keys(), event


def test_default_traffic_contains_real_world_conflicts() -> None:
    """Outside conflict-free mode some identifier values are shared by two people."""
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    cfg = GeneratorConfig(events=20_000, customers=2_000, seed=5)
    for event, person in generate_with_truth(cfg):
        for identifier in event["identifiers"]:
            owners[normalized(identifier)].add(person)
    assert any(len(people) > 1 for people in owners.values())


def test_truth_pairs_the_same_events_with_their_people() -> None:
    """`generate_with_truth` yields the events of `generate_events`, each with a person whose
    customer id is the one on the event."""
    pairs = list(generate_with_truth(SMALL))
    assert [event for event, _ in pairs] == list(generate_events(SMALL))
    customer_of: dict[str, set[str]] = defaultdict(set)
    for event, person in pairs:
        for identifier in event["identifiers"]:
            if identifier["type"] == "customer_id":
                customer_of[identifier["value"]].add(person)
    assert customer_of
    assert all(len(people) == 1 for people in customer_of.values())


def test_some_events_arrive_late_and_only_those() -> None:
    """With `late_fraction` a few events arrive out of order, at most hours late; without it
    the stream is in event-time order."""
    late = [item.t_ms for item in generate(GeneratorConfig(events=5_000, late_fraction=0.05))]
    steps_back = [a - b for a, b in itertools.pairwise(late) if b < a]
    assert 50 < len(steps_back) < 500
    assert max(steps_back) <= 6 * 3_600_000
    ordered = [item.t_ms for item in generate(GeneratorConfig(events=5_000, late_fraction=0))]
    assert ordered == sorted(ordered)


def test_reference_only_events_follow_the_event_that_owns_the_reference() -> None:
    """Courier scans and other identifier-less events only use references an earlier
    delivered event of the same person introduced."""
    owner: dict[str, str] = {}
    scans = 0
    for event, person in generate_with_truth(GeneratorConfig(events=8_000, customers=800)):
        refs = {v for k, v in event.get("refs", {}).items() if k in OWNED}
        if event["identifiers"]:
            for ref in refs:
                owner.setdefault(ref, person)
        else:
            scans += 1
            assert any(owner.get(ref) == person for ref in refs), event
    assert scans > 0


def test_traffic_is_omnichannel_and_skewed() -> None:
    """The traffic uses every channel and touchpoint, mixes anonymous and known events, and a
    few people make much more traffic than most."""
    events = list(generate_with_truth(GeneratorConfig(events=20_000, customers=2_000, seed=2)))
    assert {event["channel"] for event, _ in events} == CHANNELS
    assert {event["touchpoint"] for event, _ in events} == TOUCHPOINTS
    assert any(event.get("consent") == {"stitching": False} for event, _ in events)
    anonymous = [e for e, _ in events if [i["type"] for i in e["identifiers"]] == ["cookie_id"]]
    assert len(anonymous) > 200
    per_person = sorted(Counter(person for _, person in events).values(), reverse=True)
    assert per_person[0] > 10 * per_person[len(per_person) // 2]


def test_lines_hold_bad_lines_only_when_asked() -> None:
    """Lines are the orjson events; with `invalid_fraction` > 0 bad lines of several kinds are
    added and the valid lines stay the same."""
    clean = list(generate_lines(SMALL))
    assert clean == [orjson.dumps(event).decode() for event in generate_events(SMALL)]
    dirty = list(generate_lines(GeneratorConfig(events=4_000, customers=400, seed=7,
                                                invalid_fraction=0.05)))
    valid, bad = [], []
    for line in dirty:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad.append("invalid_json")
            continue
        if problems(event):
            bad.append(problems(event)[0].split()[0])
        else:
            valid.append(line)
    assert valid == clean
    assert 100 < len(bad) < 320
    assert len(set(bad)) >= 4


def test_story_research_on_phone_buy_on_laptop() -> None:
    """Story 1: smartphone research, laptop purchase, cash to the courier, a support call."""
    person = next(p for p in (make_person(i, seed=1) for i in range(100))
                  if p.device("smartphone") is not None and p.device("desktop") is not None)
    events = research_mobile_buy_laptop(person, datetime(2026, 11, 20, 10, tzinfo=UTC))
    journey = [(e["channel"], e["touchpoint"]) for e in events if e["touchpoint"] != "identify"]
    assert journey == [
        ("web", "inform"), ("web", "compare"), ("web", "purchase"), ("web", "order_delivery"),
        ("courier", "pay"), ("courier", "delivery"), ("voice", "support"),
    ]
    by_touchpoint = {e["touchpoint"]: e for e in events}
    assert by_touchpoint["inform"]["device"]["type"] == "smartphone"
    assert by_touchpoint["purchase"]["device"]["type"] == "desktop"
    order = by_touchpoint["purchase"]["refs"]["order_id"]
    assert by_touchpoint["pay"]["identifiers"] == []
    assert by_touchpoint["pay"]["refs"] == {"order_id": order}
    assert by_touchpoint["pay"]["attributes"]["method"] == "cash"
    assert by_touchpoint["support"]["refs"]["order_id"] == order
    assert all(not problems(e) for e in events)


def test_story_click_and_collect() -> None:
    """Story 2: ordered and paid online, an SMS, the pickup in the store by order number."""
    events = click_and_collect(make_person(4, seed=1), datetime(2026, 11, 20, tzinfo=UTC))
    journey = [(e["channel"], e["touchpoint"]) for e in events if e["touchpoint"] != "identify"]
    assert journey == [("web", "inform"), ("web", "purchase"), ("web", "pay"),
                       ("sms", "order_delivery"), ("store", "pickup")]
    assert len({e["refs"]["order_id"] for e in events if "order_id" in e.get("refs", {})}) == 1
    assert all(not problems(e) for e in events)


def test_story_chat_escalated_to_call() -> None:
    """Story 3: a chat escalated to a phone call about the same case."""
    events = chat_escalated_to_call(make_person(5, seed=1), datetime(2026, 11, 20, tzinfo=UTC))
    journey = [(e["channel"], e["touchpoint"]) for e in events if e["touchpoint"] != "identify"]
    assert journey == [("chat", "support"), ("chat", "support"), ("voice", "support")]
    assert len({e["refs"]["case_id"] for e in events if "refs" in e}) == 1
    assert events[-1]["outcome"] == "completed"
    assert all(not problems(e) for e in events)


def test_story_anonymous_browsing_then_login() -> None:
    """Story 4: cookie-only pages, then a login linking that cookie to the verified customer."""
    person = make_person(6, seed=1)
    events = anonymous_then_login(person, datetime(2026, 11, 20, tzinfo=UTC))
    login = next(i for i, e in enumerate(events) if e["touchpoint"] == "identify")
    assert login >= 2
    cookies = {e["identifiers"][0]["value"] for e in events[:login]}
    assert all([i["type"] for i in e["identifiers"]] == ["cookie_id"] for e in events[:login])
    linked = {(i["type"], i["value"], i["verified"]) for i in events[login]["identifiers"]}
    assert ("customer_id", person.customer_id, True) in linked
    assert {("cookie_id", cookie, False) for cookie in cookies} <= linked
    assert {e["channel"] for e in events} == {"web"}
    assert all(not problems(e) for e in events)


def test_stories_are_woven_into_traffic() -> None:
    """The scripted escalation (chat then voice on one case) also happens in random traffic."""
    channels_of_case: dict[str, list[str]] = defaultdict(list)
    for event in generate_events(GeneratorConfig(events=20_000, customers=2_000, seed=4,
                                                 late_fraction=0)):
        case = event.get("refs", {}).get("case_id")
        if case is not None:
            channels_of_case[case].append(event["channel"])
    assert any(channels[:3] == ["chat", "chat", "voice"] for channels in channels_of_case.values())


def test_cli_writes_json_lines() -> None:
    """`generate` writes the requested number of JSON lines, identical to `generate_lines`."""
    result = CliRunner().invoke(generate_command, ["--events", "300", "--customers", "40",
                                                   "--seed", "9", "--conflict-free"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    expected = list(generate_lines(GeneratorConfig(events=300, customers=40, seed=9,
                                                   conflict_free=True)))
    assert lines == expected
