"""The configuration file: the §4 defaults, replacing tables, and what a broken file says."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from journey_stitcher.catalog.default import default_catalog
from journey_stitcher.catalog.loader import load_catalog, parse_window
from journey_stitcher.catalog.model import IDENTIFY, Catalog
from journey_stitcher.config import StitcherConfig, load_config
from journey_stitcher.errors import ConfigurationError
from journey_stitcher.stitcher import Stitcher

EVERY_TOUCHPOINT = {
    "discover", "inform", "compare", "verify", "purchase", "pay", "order_delivery",
    "delivery", "pickup", "support", "complaint", "return", "service_visit", "feedback",
    "loyalty",
}


def write(tmp_path: Path, text: str, name: str = "stitcher.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    """The lines of the ConfigurationError a file raises, without the file name prefix."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as raised:
        load_config(path)
    lines = str(raised.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    return [line.removeprefix(f"{path}: ") for line in lines]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_config(None).catalog


# ---------------------------------------------------------------------------------------------
# The defaults are SPEC §4


def test_no_file_gives_the_default_catalog_and_processing_options() -> None:
    """Without a file the catalog is default_catalog() and the options have their defaults."""
    config = load_config(None)
    assert config == StitcherConfig(catalog=default_catalog())
    assert (config.capability_check, config.max_event_bytes, config.source) == (
        "reject", 65536, "journey-stitcher"
    )
    assert (config.hashing, config.default_phone_region) == (True, "US")
    assert (config.merge_guard, config.handoff_context_limit) == (100, 10)


def test_an_empty_file_means_every_default(tmp_path: Path) -> None:
    """A file with nothing in it configures nothing."""
    assert load_config(write(tmp_path, "")) == load_config(None)


@pytest.mark.parametrize(
    ("channel", "kind", "direction", "assisted"),
    [
        ("web", "digital", "two-way", False),
        ("app", "digital", "two-way", False),
        ("chat", "digital", "two-way", True),
        ("email", "digital", "two-way", False),
        ("social", "digital", "two-way", False),
        ("kiosk", "digital", "two-way", False),
        ("ads", "digital", "one-way", False),
        ("iot", "digital", "one-way", False),
        ("voice", "analog", "two-way", True),
        ("sms", "analog", "two-way", False),
        ("store", "physical", "two-way", True),
        ("courier", "physical", "two-way", True),
        ("field_service", "physical", "two-way", True),
        ("print", "physical", "one-way", False),
    ],
)
def test_default_channels_follow_the_table_of_section_4(
    catalog: Catalog, channel: str, kind: str, direction: str, assisted: bool
) -> None:
    """Every channel row of §4 has its kind, direction and assisted flag."""
    entry = catalog.channels[channel]
    assert (entry.kind, entry.direction, entry.assisted) == (kind, direction, assisted)


def test_default_catalog_has_exactly_the_fourteen_channels(catalog: Catalog) -> None:
    """No channel beyond those of §4."""
    assert len(catalog.channels) == 14


@pytest.mark.parametrize(
    ("channel", "supported"),
    [
        ("ads", {"discover"}),
        ("print", {"discover"}),
        ("iot", {"discover", "support"}),
        ("courier", {"delivery", "pay", "return", "pickup"}),
        ("field_service", {"service_visit", "support", "pay", "feedback"}),
        ("store", EVERY_TOUCHPOINT),
        ("sms", EVERY_TOUCHPOINT - {"purchase", "delivery", "pickup", "service_visit"}),
        ("web", EVERY_TOUCHPOINT - {"delivery", "pickup", "service_visit"}),
        ("app", EVERY_TOUCHPOINT - {"delivery", "pickup", "service_visit"}),
        ("chat", EVERY_TOUCHPOINT - {"delivery", "pickup", "service_visit"}),
        ("email", EVERY_TOUCHPOINT - {"delivery", "pickup", "service_visit"}),
        ("social", EVERY_TOUCHPOINT - {"delivery", "pickup", "service_visit"}),
        ("kiosk", EVERY_TOUCHPOINT - {"delivery", "pickup", "service_visit"}),
        ("voice", EVERY_TOUCHPOINT - {"delivery", "pickup", "service_visit"}),
    ],
)
def test_default_capability_matrix_follows_section_4(
    catalog: Catalog, channel: str, supported: set[str]
) -> None:
    """Each capability rule of §4 gives the channel exactly these touchpoints."""
    assert {tp for tp in EVERY_TOUCHPOINT if catalog.supports(channel, tp)} == supported


def test_identify_is_accepted_on_every_channel(catalog: Catalog) -> None:
    """identify records identity on any channel, one-way ones included."""
    assert all(catalog.supports(channel, IDENTIFY) for channel in catalog.channels)


@pytest.mark.parametrize(
    ("touchpoint", "phase", "family", "goal"),
    [
        ("discover", "pre_purchase", "purchase", False),
        ("inform", "pre_purchase", "purchase", False),
        ("compare", "pre_purchase", "purchase", False),
        ("verify", "pre_purchase", "purchase", False),
        ("purchase", "purchase", "purchase", True),
        ("pay", "purchase", "purchase", False),
        ("order_delivery", "purchase", "purchase", False),
        ("delivery", "post_purchase", "purchase", False),
        ("pickup", "post_purchase", "purchase", False),
        ("support", "post_purchase", "service", True),
        ("complaint", "post_purchase", "service", True),
        ("return", "post_purchase", "service", True),
        ("service_visit", "post_purchase", "service", True),
        ("feedback", "loyalty", "loyalty", False),
        ("loyalty", "loyalty", "loyalty", False),
        (IDENTIFY, None, None, False),
    ],
)
def test_default_touchpoints_follow_section_4(
    catalog: Catalog, touchpoint: str, phase: str | None, family: str | None, goal: bool
) -> None:
    """Every touchpoint row of §4 has its phase, family and goal flag."""
    entry = catalog.touchpoints[touchpoint]
    assert (entry.phase, entry.family, entry.goal) == (phase, family, goal)


def test_default_families_and_identifier_types_follow_section_4(catalog: Catalog) -> None:
    """Windows 14/3/30 days; identifier priorities and per-profile maxima as in §4."""
    assert {f.id: f.window for f in catalog.families.values()} == {
        "purchase": timedelta(days=14),
        "service": timedelta(days=3),
        "loyalty": timedelta(days=30),
    }
    assert {t.id: (t.priority, t.max_per_profile) for t in catalog.identifier_types.values()} == {
        "customer_id": (100, 1),
        "loyalty_id": (90, 1),
        "email": (80, 5),
        "phone": (70, 5),
        "device_id": (40, 20),
        "cookie_id": (20, 50),
    }
    assert catalog.anonymous_types == {"device_id", "cookie_id"}


def test_default_references_and_blocked_values_follow_section_4(catalog: Catalog) -> None:
    """product_id is owned by nobody; the placeholder values of §4 are blocked."""
    assert catalog.owned_refs == {"order_id", "cart_id", "case_id", "appointment_id"}
    assert catalog.blocked_values == {
        "", "null", "none", "undefined", "nan", "anonymous", "unknown", "test",
        "[object object]", "-1", "0",
    }


def yaml_examples() -> list[tuple[str, str | None]]:
    """The YAML blocks of docs/configuration.md, in order, each with the `text` block that
    follows it right away (the problems it is documented to raise), if any."""
    text = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    found = re.findall(r"```yaml\n(.*?)```\s*(?:```text\n(.*?)```)?", text, flags=re.DOTALL)
    return [(example, printed or None) for example, printed in found]


def test_the_full_example_of_the_documentation_is_the_default(tmp_path: Path) -> None:
    """docs/configuration.md writes out the defaults; loading it changes nothing."""
    (full, printed), *_ = yaml_examples()
    assert printed is None
    assert load_config(write(tmp_path, full)) == load_config(None)


def test_every_example_of_the_documentation_does_what_it_says(tmp_path: Path) -> None:
    """A valid example loads; an invalid one prints exactly the problems shown under it."""
    examples = yaml_examples()
    assert sum(printed is not None for _, printed in examples) == 2
    for example, printed in examples:
        if printed is None:
            load_config(write(tmp_path, example))
        else:
            shown = [line.removeprefix("stitcher.yaml: ") for line in printed.splitlines()]
            assert problems(tmp_path, example) == shown


# ---------------------------------------------------------------------------------------------
# Replacing tables


def test_a_present_table_replaces_its_default_and_the_others_stay(tmp_path: Path) -> None:
    """Replacing families changes the windows and nothing else."""
    config = load_config(write(tmp_path, """
        catalog:
          families:
            purchase: {window: 7d}
            service: {window: PT72H}
            loyalty: {window: P2W}
    """))
    assert config.catalog.window("purchase") == timedelta(days=7)
    assert config.catalog.window("service") == timedelta(hours=72)
    assert config.catalog.window("loyalty") == timedelta(weeks=2)
    assert config.catalog.channels == default_catalog().channels
    assert config.catalog.identifier_types == default_catalog().identifier_types


def test_default_channels_follow_a_replaced_touchpoints_table(tmp_path: Path) -> None:
    """A new touchpoint is offered where the default rule says every (or every digital) one."""
    catalog = load_catalog(write(tmp_path, """
        catalog:
          touchpoints:
            discover: {phase: pre_purchase, family: purchase}
            purchase: {phase: purchase, family: purchase, goal: true}
            pay: {phase: purchase, family: purchase}
            delivery: {phase: post_purchase, family: purchase}
            pickup: {phase: post_purchase, family: purchase}
            return: {phase: post_purchase, family: service, goal: true}
            support: {phase: post_purchase, family: service, goal: true}
            service_visit: {phase: post_purchase, family: service, goal: true}
            feedback: {phase: loyalty, family: loyalty}
            subscribe: {phase: loyalty, family: loyalty, goal: true}
    """))
    assert catalog.supports("store", "subscribe")
    assert catalog.supports("web", "subscribe")
    assert not catalog.supports("web", "delivery")
    assert not catalog.supports("courier", "subscribe")
    assert "compare" not in catalog.touchpoints
    assert catalog.touchpoints["subscribe"].goal


def test_channels_can_be_replaced_with_every_form_of_touchpoint_list(tmp_path: Path) -> None:
    """A channel lists its touchpoints, takes "*", or takes all except some."""
    catalog = load_catalog(write(tmp_path, """
        catalog:
          channels:
            web: {kind: digital, direction: two-way, touchpoints: {all_except: [delivery, pickup]}}
            shop: {kind: physical, direction: two-way, assisted: true, touchpoints: "*"}
            leaflet: {kind: physical, direction: one-way, touchpoints: [discover]}
    """))
    assert set(catalog.channels) == {"web", "shop", "leaflet"}
    assert catalog.supports("web", "service_visit")
    assert not catalog.supports("web", "pickup")
    assert catalog.channels["shop"].touchpoints == EVERY_TOUCHPOINT
    assert catalog.channels["shop"].assisted
    assert not catalog.channels["leaflet"].assisted
    assert catalog.channels["leaflet"].touchpoints == {"discover"}


def test_identifier_types_blocked_patterns_and_lists_can_be_replaced(tmp_path: Path) -> None:
    """Identifier types, their blocked patterns, owned refs and blocked values all configure."""
    catalog = load_catalog(write(tmp_path, """
        catalog:
          identifier_types:
            customer_id: {priority: 100, max: 1}
            email: {priority: 80, max: 3}
            cookie_id: {priority: 10, max: 100, anonymous: true}
          blocked_patterns:
            email: ['@example\\.(com|org)$', '^noreply@']
          owned_refs: [order_id, ticket_id]
          blocked_values: [N/A, "  Guest "]
    """))
    email = catalog.identifier_types["email"]
    assert (email.priority, email.max_per_profile) == (80, 3)
    assert [p.pattern for p in email.blocked_patterns] == ["@example\\.(com|org)$", "^noreply@"]
    assert catalog.identifier_types["customer_id"].unique
    assert catalog.anonymous_types == {"cookie_id"}
    assert catalog.owned_refs == {"order_id", "ticket_id"}
    assert catalog.blocked_values == {"n/a", "guest", ""}


def test_a_catalog_without_device_ids_still_takes_devices(tmp_path: Path) -> None:
    """`device` is an optional field of every interaction (§3), not an identifier: a catalog
    whose identifier types leave `device_id` out still hashes and compares device ids."""
    config = load_config(write(tmp_path, """
        catalog:
          identifier_types:
            customer_id: {priority: 100, max: 1}
            email: {priority: 80, max: 5}
    """))
    stitcher = Stitcher(config, b"pepper")
    outputs = [stitcher.process_line(orjson.dumps({
        "event_id": f"e{n}", "occurred_at": f"2026-03-01T1{n}:00:00Z", "channel": "web",
        "touchpoint": "compare", "identifiers": [{"type": "email", "value": "ann@x.com"}],
        "device": {"id": device},
    })) for n, device in enumerate(["phone-1", "laptop-1"])]
    assert [e["type"] for e in outputs[1]] == ["journey.continued", "journey.handoff"]
    assert outputs[1][1]["data"]["kind"] == "device_switch"


def test_processing_options_are_read(tmp_path: Path) -> None:
    """Every processing option reaches the settings object; the region is upper-cased."""
    config = load_config(write(tmp_path, """
        processing:
          capability_check: flag
          max_event_bytes: 1048576
          source: urn:acme:stitcher
          hashing: false
          default_phone_region: it
          merge_guard: 20
          handoff_context_limit: 5
    """))
    assert config == StitcherConfig(
        catalog=default_catalog(), capability_check="flag", max_event_bytes=1048576,
        source="urn:acme:stitcher", hashing=False, default_phone_region="IT", merge_guard=20,
        handoff_context_limit=5,
    )


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("14d", timedelta(days=14)),
        ("72h", timedelta(hours=72)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("P14D", timedelta(days=14)),
        ("PT72H", timedelta(hours=72)),
        ("P1DT12H30M", timedelta(days=1, hours=12, minutes=30)),
        ("P2W", timedelta(weeks=2)),
        ("14", None),
        ("P1M", None),
        ("P", None),
        ("14 days", None),
        ("99999999999d", None),
        ("", None),
    ],
)
def test_windows_read_short_and_iso_8601_durations(text: str, window: timedelta | None) -> None:
    """Windows take 14d / 72h forms and ISO-8601 durations without months or years."""
    assert parse_window(text) == window


# ---------------------------------------------------------------------------------------------
# Broken files name the file, the key and the problem


def test_a_misspelt_channel_kind_names_file_key_and_choices(tmp_path: Path) -> None:
    """The canonical example: a typo in a channel's kind."""
    assert problems(tmp_path, """
        catalog:
          channels:
            web: {kind: digtal, direction: two-way, touchpoints: "*"}
    """) == ["catalog.channels.web.kind: must be one of digital, analog, physical (got 'digtal')"]


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    """A path to nothing is a configuration error, not a crash."""
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigurationError, match=r"nowhere\.yaml: configuration file not found"):
        load_config(path)


def test_a_directory_is_not_a_configuration_file(tmp_path: Path) -> None:
    """Pointing --config at a directory says what is wrong."""
    with pytest.raises(ConfigurationError, match="is a directory"):
        load_config(tmp_path)


def test_a_file_that_is_not_utf8_says_where(tmp_path: Path) -> None:
    """A Latin-1 file is refused with the offending byte."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("catalog:\n  owned_refs: [n\xfamero]\n".encode("latin-1"))
    with pytest.raises(ConfigurationError, match=r"latin1\.yaml: not UTF-8 text \(byte 0xfa"):
        load_config(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error gives line and column."""
    path = write(tmp_path, "catalog:\n  channels: {web: [\n")
    with pytest.raises(ConfigurationError, match=r"stitcher\.yaml: line 3, column 1: invalid YAML"):
        load_config(path)


def test_a_duplicate_key_is_refused_with_its_line(tmp_path: Path) -> None:
    """Two entries for one channel would silently drop the first: refused instead."""
    path = write(tmp_path, """\
        catalog:
          families:
            purchase: {window: 14d}
            purchase: {window: 7d}
    """)
    with pytest.raises(
        ConfigurationError, match=r"line 4, column 5: invalid YAML: duplicate key 'purchase'"
    ):
        load_config(path)


def test_the_top_level_must_be_a_mapping_of_known_sections(tmp_path: Path) -> None:
    """A list at the top, or an unknown section, is named."""
    assert problems(tmp_path, "- catalog\n") == ["(top level): must be a mapping (got a list)"]
    assert problems(tmp_path, "catalogue: {}\n") == [
        "catalogue: unknown key (expected one of catalog, processing)"
    ]


def test_unknown_and_missing_keys_of_an_entry_are_named(tmp_path: Path) -> None:
    """A misspelt key is unknown, and the key it should have been is missing."""
    assert problems(tmp_path, """
        catalog:
          channels:
            web: {kind: digital, direction: two-way, touchpoint: "*"}
    """) == [
        "catalog.channels.web.touchpoints: required key is missing",
        "catalog.channels.web.touchpoint: unknown key "
        "(expected one of kind, direction, assisted, touchpoints)",
    ]


def test_wrong_types_are_not_coerced(tmp_path: Path) -> None:
    """A quoted priority, a zero max and a word for a boolean are each named."""
    assert problems(tmp_path, """
        catalog:
          identifier_types:
            email: {priority: "80", max: 0}
          touchpoints:
            buy: {phase: purchase, family: purchase, goal: "yes"}
    """) == [
        "catalog.touchpoints.buy.goal: must be true or false (got 'yes')",
        "catalog.identifier_types.email.priority: must be an integer (got '80')",
        "catalog.identifier_types.email.max: must be at least 1 (got 0)",
    ]


def test_a_channel_touchpoint_must_exist(tmp_path: Path) -> None:
    """The index of the unknown touchpoint in the channel's list is named."""
    assert problems(tmp_path, """
        catalog:
          channels:
            ads: {kind: digital, direction: one-way, touchpoints: [discover, browse]}
            web: {kind: digital, direction: two-way, touchpoints: {all_except: [delivry]}}
    """) == [
        "catalog.channels.ads.touchpoints[1]: unknown touchpoint 'browse': "
        "the default touchpoints table does not define it",
        "catalog.channels.web.touchpoints.all_except[0]: unknown touchpoint 'delivry': "
        "the default touchpoints table does not define it",
    ]


def test_a_channel_touchpoint_selection_must_have_a_known_shape(tmp_path: Path) -> None:
    """Anything but a list, "*" or {all_except: [...]} is refused with the forms allowed."""
    assert problems(tmp_path, """
        catalog:
          channels:
            web: {kind: digital, direction: two-way, touchpoints: all}
            app: {kind: digital, direction: two-way, touchpoints: [identify]}
    """) == [
        'catalog.channels.web.touchpoints: must be "*", a list of touchpoint ids or '
        "{all_except: [touchpoint ids]} (got 'all')",
        "catalog.channels.app.touchpoints[0]: identify is accepted on every channel; "
        "do not list it",
    ]


def test_replacing_touchpoints_under_default_channels_names_what_is_missing(
    tmp_path: Path,
) -> None:
    """Default channels that list a touchpoint the new table drops point at the fix."""
    lines = problems(tmp_path, """
        catalog:
          touchpoints:
            discover: {phase: pre_purchase, family: purchase}
            support: {phase: post_purchase, family: service, goal: true}
    """)
    assert lines == [
        f"catalog.touchpoints: the default {users} touchpoint '{touchpoint}', which this table "
        "does not define: define it, or replace catalog.channels too"
        for users, touchpoint in [
            ("channel 'courier' uses", "delivery"),
            ("channels 'courier', 'field_service' use", "pay"),
            ("channel 'courier' uses", "pickup"),
            ("channel 'courier' uses", "return"),
            ("channel 'field_service' uses", "feedback"),
            ("channel 'field_service' uses", "service_visit"),
        ]
    ]


def test_a_touchpoint_family_must_exist(tmp_path: Path) -> None:
    """A touchpoint of an unknown family names the families there are."""
    assert problems(tmp_path, """
        catalog:
          touchpoints:
            discover: {phase: pre_purchase, family: purchse}
          channels:
            web: {kind: digital, direction: two-way, touchpoints: "*"}
    """) == [
        "catalog.touchpoints.discover.family: unknown family 'purchse': the default families "
        "table defines loyalty, purchase, service",
    ]


def test_replacing_families_under_default_touchpoints_names_what_is_missing(
    tmp_path: Path,
) -> None:
    """Dropping a family the default touchpoints use is reported on the families table."""
    lines = problems(tmp_path, """
        catalog:
          families:
            purchase: {window: 14d}
            loyalty: {window: 30d}
    """)
    assert lines == [
        "catalog.families: the default touchpoints 'support', 'complaint', 'return', "
        "'service_visit' use family 'service', which this table does not define: define it, "
        "or replace catalog.touchpoints too",
    ]


def test_windows_must_be_positive_durations(tmp_path: Path) -> None:
    """An unreadable window and a zero window are both named."""
    assert problems(tmp_path, """
        catalog:
          families:
            purchase: {window: two weeks}
            service: {window: 0d}
            loyalty: {window: 30d}
    """) == [
        "catalog.families.purchase.window: must be a duration such as 14d, 72h, 1d12h or P14D, "
        "PT72H (got 'two weeks')",
        "catalog.families.service.window: must be longer than zero (got '0d')",
    ]


def test_windows_have_an_upper_bound(tmp_path: Path) -> None:
    """A window of thousands of years would put deadlines past the calendar's end: refused at
    start, not at the first event. Ten years is accepted."""
    assert problems(tmp_path, """
        catalog:
          families:
            purchase: {window: 2920000d}
            service: {window: 3651d}
            loyalty: {window: 3650d}
    """) == [
        "catalog.families.purchase.window: must be at most 3650d, ten years (got '2920000d')",
        "catalog.families.service.window: must be at most 3650d, ten years (got '3651d')",
    ]


def test_blocked_patterns_must_compile_and_name_a_type(tmp_path: Path) -> None:
    """A broken regex names its index; a pattern for an unknown type names the types."""
    assert problems(tmp_path, """
        catalog:
          blocked_patterns:
            email: ['(unclosed']
            fax: ['^0+$']
    """) == [
        "catalog.blocked_patterns.email[0]: not a valid regular expression: "
        "missing ), unterminated subpattern at position 0",
        "catalog.blocked_patterns.fax: unknown identifier type 'fax': the default "
        "identifier_types table defines cookie_id, customer_id, device_id, email, loyalty_id, "
        "phone",
    ]


def test_identifier_priorities_must_be_distinct(tmp_path: Path) -> None:
    """Two types of equal priority would make the merge survivor ambiguous."""
    assert problems(tmp_path, """
        catalog:
          identifier_types:
            customer_id: {priority: 100, max: 1}
            crm_id: {priority: 100, max: 1}
    """) == [
        "catalog.identifier_types.crm_id.priority: 100 is already the priority of "
        "'customer_id'; priorities must be distinct (they decide attribution and the merge "
        "survivor)",
    ]


def test_ids_must_be_plain_and_identify_is_reserved(tmp_path: Path) -> None:
    """Ids with spaces are refused, and identify cannot be redefined."""
    assert problems(tmp_path, """
        catalog:
          touchpoints:
            identify: {phase: none, family: loyalty}
            sign up: {phase: loyalty, family: loyalty}
          channels:
            web: {kind: digital, direction: two-way, touchpoints: "*"}
    """) == [
        "catalog.touchpoints.identify: identify is built in and cannot be redefined",
        "catalog.touchpoints.sign up: not a valid id: use 1-64 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit",
    ]


def test_processing_options_are_validated(tmp_path: Path) -> None:
    """Capability check, sizes, source and region are each checked."""
    assert problems(tmp_path, """
        processing:
          capability_check: warn
          max_event_bytes: 0
          handoff_context_limit: 11
    """) == [
        "processing.capability_check: must be one of reject, flag (got 'warn')",
        "processing.max_event_bytes: must be at least 1 (got 0)",
        "processing.handoff_context_limit: must be at most 10 (got 11)",
    ]
    assert problems(tmp_path, """
        processing:
          default_phone_region: XX
          source: "journey stitcher"
    """) == [
        "processing.default_phone_region: unknown region 'XX': use an ISO 3166-1 alpha-2 code "
        "such as US, GB or IT",
        "processing.source: must be a non-empty URI reference (RFC 3986: ASCII letters, "
        "digits, -._~:/?#[]@!$&'()*+,;= and %XX escapes; no spaces) (got 'journey stitcher')",
    ]


@pytest.mark.parametrize("source", ["café", "<urn:x>", "a|b", "100%", "a{b}", "a\tb"])
def test_a_source_that_is_no_uri_reference_is_refused(tmp_path: Path, source: str) -> None:
    """The CloudEvents `source` of every output must pass the output schema's
    `format: uri-reference`: what RFC 3986 does not allow is refused at start."""
    found = problems(tmp_path, f"processing: {{source: {source!r}}}\n")
    assert len(found) == 1
    assert found[0].startswith("processing.source: must be a non-empty URI reference")


@pytest.mark.parametrize("source", ["urn:acme:stitcher", "https://acme.example/js?eu=1#a",
                                    "/stitchers/eu-1", "js%2Deu"])
def test_uri_references_are_sources(tmp_path: Path, source: str) -> None:
    """Absolute URIs, URNs, relative references and percent-escapes are all sources."""
    assert load_config(write(tmp_path, f"processing: {{source: {source!r}}}\n")).source == source


def test_the_norway_problem_gets_a_hint(tmp_path: Path) -> None:
    """YAML reads NO as false; the message says to quote it."""
    assert problems(tmp_path, "processing: {default_phone_region: NO}\n") == [
        "processing.default_phone_region: must be a string (got false); quote it: YAML reads "
        "yes/no/on/off/y/n as booleans",
    ]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    """Fixing a file takes one round, not one per mistake."""
    lines = problems(tmp_path, """
        catalog:
          families:
            purchase: {window: 14}
          identifier_types:
            email: {priority: 80, max: 5, hashed: true}
        processing:
          hashing: "false"
    """)
    assert lines == [
        "catalog.families.purchase.window: must be a string (got 14); quote it to make it "
        "a string",
        "catalog.identifier_types.email.hashed: unknown key "
        "(expected one of priority, max, anonymous)",
        "processing.hashing: must be true or false (got 'false')",
    ]


def test_an_empty_table_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    """A table key left without entries is named instead of falling back to the default."""
    assert problems(tmp_path, """
        catalog:
          channels:
          families: {}
    """) == [
        "catalog.channels: is empty: write the table, or remove the key to keep the default",
        "catalog.families: must have at least one entry",
        "catalog.families: the default touchpoints 'discover', 'inform', 'compare', 'verify', "
        "'purchase', 'pay', 'order_delivery', 'delivery', 'pickup' use family 'purchase', which "
        "this table does not define: define it, or replace catalog.touchpoints too",
        "catalog.families: the default touchpoints 'support', 'complaint', 'return', "
        "'service_visit' use family 'service', which this table does not define: define it, "
        "or replace catalog.touchpoints too",
        "catalog.families: the default touchpoints 'feedback', 'loyalty' use family 'loyalty', "
        "which this table does not define: define it, or replace catalog.touchpoints too",
    ]


def test_a_key_that_is_not_a_string_is_named_as_a_key(tmp_path: Path) -> None:
    """A numeric channel id is reported at that key, with a hint to quote it."""
    assert problems(tmp_path, """
        catalog:
          channels:
            1: {kind: digital, direction: two-way, touchpoints: "*"}
    """) == ["catalog.channels.1: must be a string (got 1); quote it to make it a string"]
