"""Courier, field service, chat and IoT: canonical events as they are, and CSV batch files."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from journey_stitcher.adapters import ADAPTERS, CsvMapping
from journey_stitcher.adapters.canonical import csv_adapter, csv_batch
from journey_stitcher.errors import ConfigurationError
from tests.unit.adapters.conftest import RECEIVED, accepted, reasons


def courier_scan(**overrides: Any) -> dict[str, Any]:
    """The courier's handheld reports the espresso machine delivered at Giulia's door."""
    event: dict[str, Any] = {
        "event_id": "brt:BRT0012345678:delivered",
        "occurred_at": "2026-03-04T15:12:09+01:00",
        "channel": "courier",
        "touchpoint": "delivery",
        "outcome": "completed",
        "refs": {"order_id": "5917349085231"},
        "device": {"id": "brt-handheld-0042", "type": "handheld"},
        "source": "brt-scanner",
    }
    event.update(overrides)
    return event


# --- canonical -----------------------------------------------------------------------------------


def test_a_canonical_event_passes_through_untouched() -> None:
    """An event already in the interaction format is published exactly as it came."""
    result = ADAPTERS["canonical"](orjson.dumps(courier_scan()), {}, RECEIVED)
    assert result.events == [courier_scan()]
    assert result.rejected == []
    accepted(result.events[0])


def test_arrays_and_json_lines_are_batches_of_events() -> None:
    """A sensor gateway may post an array; an export may be one event per line."""
    iot = courier_scan(event_id="iot:boiler-77:descale", channel="iot", touchpoint="support",
                       refs={"product_id": "espresso-ek-42"})
    array = ADAPTERS["canonical"](orjson.dumps([courier_scan(), iot]), {}, RECEIVED)
    lines = ADAPTERS["canonical"](
        orjson.dumps(courier_scan()) + b"\n" + orjson.dumps(iot) + b"\n", {}, RECEIVED)
    assert array.events == lines.events == [courier_scan(), iot]


def test_only_the_shape_is_checked_the_core_checks_the_rest() -> None:
    """A non-object is rejected here; an object with a bad field is left to the core's DLQ."""
    body = orjson.dumps([courier_scan(channel="pigeon"), 42, ["x"]])
    result = ADAPTERS["canonical"](body, {}, RECEIVED)
    assert [e["channel"] for e in result.events] == ["pigeon"]
    assert [(r.index, r.reason) for r in result.rejected] == [(1, "invalid_payload"),
                                                             (2, "invalid_payload")]


def test_a_canonical_body_that_is_not_json_is_rejected_as_a_whole() -> None:
    """Garbage is one rejection for the body."""
    result = ADAPTERS["canonical"](b"event_id=1", {}, RECEIVED)
    assert reasons(result.rejected) == ["invalid_json"]


# --- CSV -----------------------------------------------------------------------------------------

BRT_EXPORT = (
    "Spedizione;Ordine;Telefono destinatario;Esito;Data consegna;Palmare;Note\n"
    "BRT0012345678;5917349085231;+39 347 123 4567;CONSEGNATA;04/03/2026 15:12;hh-0042;citofono\n"
    "BRT0012345679;5917349085232;;CONSEGNATA;04/03/2026 16:40;hh-0042;\n"
    "BRT0012345680;5917349085233;+39 333 987 6543;CONSEGNATA;;hh-0042;\n"
)

BRT_MAPPING = CsvMapping(
    columns={
        "Spedizione": "session_id",
        "Ordine": "refs.order_id",
        "Telefono destinatario": "identifiers.phone",
        "Esito": "attributes.esito",
        "Data consegna": "occurred_at",
        "Palmare": "device.id",
    },
    defaults={"channel": "courier", "touchpoint": "delivery", "outcome": "completed",
              "device.type": "handheld"},
    timezone="Europe/Rome",
    timestamp_format="%d/%m/%Y %H:%M",
    delimiter=";",
    source="brt-export",
    id_prefix="brt",
)


def test_a_courier_export_becomes_delivery_touchpoints() -> None:
    """Each delivered parcel of the courier's file is a completed delivery of its order."""
    result = csv_batch(BRT_EXPORT.encode(), BRT_MAPPING)
    first, second = result.events
    assert {k: v for k, v in first.items() if k != "event_id"} == {
        "occurred_at": "2026-03-04T14:12:00Z",
        "channel": "courier",
        "touchpoint": "delivery",
        "identifiers": [{"type": "phone", "value": "+39 347 123 4567", "verified": False}],
        "refs": {"order_id": "5917349085231"},
        "outcome": "completed",
        "device": {"id": "hh-0042", "type": "handheld"},
        "session_id": "BRT0012345678",
        "source": "brt-export",
        "attributes": {"esito": "CONSEGNATA"},
    }
    assert second["identifiers"] == []  # the order alone identifies the customer
    for event in result.events:
        accepted(event)


def test_a_row_without_its_date_is_rejected_with_its_line() -> None:
    """A parcel row with an empty delivery date is rejected alone, naming line 4."""
    result = csv_batch(BRT_EXPORT.encode(), BRT_MAPPING)
    assert len(result.events) == 2
    assert [(r.index, r.reason, r.field) for r in result.rejected] == [
        (2, "missing_field", "occurred_at")]
    assert "line 4" in result.rejected[0].message


def test_importing_the_same_file_twice_gives_the_same_ids() -> None:
    """Re-sending a file dedupes downstream: ids are a hash of each row's content."""
    first = csv_batch(BRT_EXPORT.encode(), BRT_MAPPING).events
    again = csv_batch(BRT_EXPORT.encode(), BRT_MAPPING).events
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]
    assert first[0]["event_id"].startswith("brt:h:")
    assert first[0]["event_id"] != first[1]["event_id"]


def test_a_file_in_canonical_column_names_needs_no_mapping() -> None:
    """With the default mapping the header names are the fields themselves."""
    body = (
        "event_id,occurred_at,channel,touchpoint,identifiers.loyalty_id,refs.appointment_id,"
        "outcome,consent.stitching\n"
        "fs-991,2026-03-05T09:30:00+01:00,field_service,service_visit,LOY-55012,APT-7781,"
        "completed,yes\n"
    )
    result = ADAPTERS["csv"](body.encode(), {}, RECEIVED)
    assert result.rejected == []
    (event,) = result.events
    assert event["event_id"] == "fs-991"
    assert event["identifiers"] == [{"type": "loyalty_id", "value": "LOY-55012",
                                     "verified": False}]
    assert event["refs"] == {"appointment_id": "APT-7781"}
    assert event["consent"] == {"stitching": True}
    assert event["source"] == "csv"
    accepted(event)


def test_identifier_types_from_a_trusted_system_are_verified() -> None:
    """A store's CRM export vouches for the loyalty cards it lists."""
    mapping = CsvMapping(columns={"Tessera": "identifiers.loyalty_id", "Email": "identifiers.email",
                                  "Data": "occurred_at"},
                         defaults={"channel": "store", "touchpoint": "loyalty"},
                         verified=frozenset({"loyalty_id"}))
    body = "Tessera,Email,Data\nLOY-55012,giulia.rossi@example.it,2026-03-05T11:00:00Z\n"
    (event,) = csv_batch(body.encode(), mapping).events
    assert event["identifiers"] == [
        {"type": "loyalty_id", "value": "LOY-55012", "verified": True},
        {"type": "email", "value": "giulia.rossi@example.it", "verified": False},
    ]


def test_naive_times_are_read_in_the_configured_zone() -> None:
    """A store in Rome writes local time; the event is in UTC, summer time included."""
    mapping = CsvMapping(timezone="Europe/Rome")
    body = ("occurred_at,channel,touchpoint,refs.order_id\n"
            "2026-07-10 10:00:00,store,pickup,SO-1\n"
            "1772441700,store,pickup,SO-2\n")
    events = csv_batch(body.encode(), mapping).events
    assert [e["occurred_at"] for e in events] == ["2026-07-10T08:00:00Z", "2026-03-02T08:55:00Z"]


def test_rows_with_the_wrong_number_of_cells_are_rejected() -> None:
    """A row with a stray separator or a missing cell is broken, the others still count."""
    body = ("occurred_at,channel,touchpoint,refs.order_id\n"
            "2026-03-05T10:00:00Z,store,pickup,SO-1,EXTRA\n"
            "2026-03-05T10:05:00Z,store,pickup\n"
            "2026-03-05T10:10:00Z,store,pickup,SO-3\n")
    result = ADAPTERS["csv"](body.encode(), {}, RECEIVED)
    assert [e["refs"]["order_id"] for e in result.events] == ["SO-3"]
    assert [r.message for r in result.rejected] == [
        "line 2 has 5 cells, the header has 4", "line 3 has 3 cells, the header has 4"]


def test_a_bad_consent_value_is_rejected_naming_the_column() -> None:
    """Consent must be a clear yes or no."""
    body = "occurred_at,channel,touchpoint,refs.order_id,consent.stitching\n" \
           "2026-03-05T10:00:00Z,store,pickup,SO-1,maybe\n"
    result = ADAPTERS["csv"](body.encode(), {}, RECEIVED)
    assert reasons(result.rejected) == ["invalid_field"]
    assert "consent.stitching 'maybe'" in result.rejected[0].message


def test_a_malformed_date_is_rejected_with_line_and_column() -> None:
    """A date that does not match the file's format is named with its line."""
    body = BRT_EXPORT.replace("04/03/2026 16:40", "2026-03-04 16:40").encode()
    result = csv_batch(body, BRT_MAPPING)
    messages = [r.message for r in result.rejected]
    assert "line 3: Data consegna '2026-03-04 16:40' does not match the format" in messages[0]


def test_excel_bom_and_blank_cells_are_handled() -> None:
    """A file saved by Excel (UTF-8 with BOM) reads like any other; blank cells are absent."""
    body = ("\ufeffoccurred_at,channel,touchpoint,identifiers.email,refs.order_id\n"
            "2026-03-05T10:00:00Z,store,pickup, ,SO-1\n").encode()
    (event,) = ADAPTERS["csv"](body, {}, RECEIVED).events
    assert event["identifiers"] == []


def test_unmapped_columns_can_be_kept_as_attributes() -> None:
    """Columns the mapping does not name are dropped, or kept as attributes on request."""
    result = csv_batch(BRT_EXPORT.encode(), CsvMapping(
        columns=BRT_MAPPING.columns, defaults=BRT_MAPPING.defaults, delimiter=";",
        timezone="Europe/Rome", timestamp_format="%d/%m/%Y %H:%M", keep_unmapped=True))
    assert result.events[0]["attributes"] == {"esito": "CONSEGNATA", "Note": "citofono"}


def test_a_file_without_a_required_column_is_rejected_as_a_whole() -> None:
    """When no column and no default gives the touchpoint, no row can convert."""
    body = "occurred_at,channel,refs.order_id\n2026-03-05T10:00:00Z,store,SO-1\n"
    result = ADAPTERS["csv"](body.encode(), {}, RECEIVED)
    assert reasons(result.rejected) == ["missing_field"]
    assert result.rejected[0].index is None
    assert "touchpoint" in result.rejected[0].message


def test_a_header_repeating_a_column_is_rejected() -> None:
    """Two columns with one name make the file ambiguous."""
    body = "occurred_at,channel,touchpoint,channel\n2026-03-05T10:00:00Z,store,pickup,web\n"
    assert reasons(ADAPTERS["csv"](body.encode(), {}, RECEIVED).rejected) == ["invalid_payload"]


def test_a_file_that_is_not_utf8_is_rejected() -> None:
    """A Latin-1 export is refused with the encoding named, not read as garbage."""
    body = "occurred_at,channel,touchpoint,attributes.note\n2026-03-05T10:00:00Z,store,pickup,"\
           "caffè\n".encode("latin-1")
    assert reasons(ADAPTERS["csv"](body, {}, RECEIVED).rejected) == ["invalid_encoding"]


def test_an_empty_file_is_rejected() -> None:
    """An empty upload has no header to read."""
    assert reasons(ADAPTERS["csv"](b"", {}, RECEIVED).rejected) == ["invalid_payload"]


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"columns": {"Telefono": "identifiers.phone number"}}, "columns.Telefono"),
        ({"columns": {"Data": "when"}}, "columns.Data"),
        ({"defaults": {"chanel": "store"}}, "defaults.chanel"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"separator": ";"}, "separator"),
    ],
)
def test_a_wrong_mapping_stops_with_the_setting_named(mapping: dict[str, Any], named: str) -> None:
    """A mapping naming a field that does not exist is a configuration error, not bad data."""
    with pytest.raises(ConfigurationError) as caught:
        CsvMapping.from_dict(mapping)
    assert str(caught.value).startswith(named)


def test_a_mapping_reads_from_configuration_data() -> None:
    """The mapping of a YAML file converts like the one built in code."""
    mapping = CsvMapping.from_dict({
        "columns": dict(BRT_MAPPING.columns or {}), "defaults": dict(BRT_MAPPING.defaults),
        "timezone": "Europe/Rome", "timestamp_format": "%d/%m/%Y %H:%M", "delimiter": ";",
        "verified": ["phone"], "source": "brt-export", "id_prefix": "brt",
    })
    events = csv_adapter(mapping)(BRT_EXPORT.encode(), {}, RECEIVED).events
    assert events[0]["identifiers"][0]["verified"] is True
    assert events[0]["event_id"].startswith("brt:h:")
