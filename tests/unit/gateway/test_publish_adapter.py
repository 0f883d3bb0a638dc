"""`publish --adapter NAME FILE --dry-run`: vendor files become interaction events on stdout."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import orjson
from click.testing import CliRunner, Result

from journey_stitcher.cli import main
from tests.unit.gateway.conftest import browse, call_status, courier_scan, login, web_order


def dry_run(path: Path, adapter: str, *extra: str) -> Result:
    """Run the command the way an operator would, stdout and stderr kept apart."""
    return CliRunner().invoke(main, ["publish", "--adapter", adapter, "--dry-run", *extra,
                                     str(path)])


def events_of(result: Result) -> list[dict[str, object]]:
    """The interaction events the command wrote, one JSON object per line."""
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def test_twilio_callbacks_one_form_per_line_become_call_events(tmp_path: Path) -> None:
    """A day's exported status callbacks give one voice event per callback, blank lines ignored."""
    calls = tmp_path / "callbacks.txt"
    calls.write_text(urlencode(call_status(CallStatus="ringing")) + "\n\n"
                     + urlencode(call_status()) + "\n")
    result = dry_run(calls, "twilio")
    assert result.exit_code == 0, result.stderr
    assert [e["outcome"] for e in events_of(result)] == ["started", "completed"]
    assert "2 events, 0 rejected" in result.stderr


def test_shopify_orders_as_json_lines_need_the_topic_header(tmp_path: Path) -> None:
    """An export of created orders, told its webhook topic, gives one purchase per order."""
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(orjson.dumps(web_order()) + b"\n"
                       + orjson.dumps(web_order(id=5917349085232, name="#1413")) + b"\n")
    result = dry_run(orders, "shopify", "--header", "X-Shopify-Topic: orders/create")
    assert result.exit_code == 0, result.stderr
    assert [e["event_id"] for e in events_of(result)] == [
        "shopify:5917349085231:orders/create", "shopify:5917349085232:orders/create"]


def test_a_json_array_of_canonical_events_is_written_as_it_is(tmp_path: Path) -> None:
    """The courier's scans, already in the interaction format, come out unchanged."""
    scans = tmp_path / "scans.json"
    scans.write_bytes(orjson.dumps([courier_scan()]))
    result = dry_run(scans, "canonical")
    assert result.exit_code == 0, result.stderr
    assert events_of(result) == [courier_scan()]


def test_a_rejected_call_fails_the_dry_run_with_its_reason(tmp_path: Path) -> None:
    """One Segment call with an impossible date: the others are written, the reason goes to stderr."""
    batch = tmp_path / "segment.json"
    batch.write_bytes(orjson.dumps({"batch": [
        browse(), browse("ajs-bad-1", timestamp="2015-2-02T00:30:12.984Z"), login()]}))
    result = dry_run(batch, "segment")
    assert result.exit_code == 1
    assert [e["touchpoint"] for e in events_of(result)] == ["inform", "identify"]
    assert "the file, item 1: invalid_timestamp" in result.stderr
    assert "nothing published" in result.stderr


def test_orders_without_their_topic_are_rejected(tmp_path: Path) -> None:
    """Without X-Shopify-Topic the file cannot say what happened: exit 1, reason named."""
    orders = tmp_path / "orders.json"
    orders.write_bytes(orjson.dumps(web_order()))
    result = dry_run(orders, "shopify")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "missing_header" in result.stderr


def test_an_unknown_adapter_is_a_usage_error(tmp_path: Path) -> None:
    """A misspelt adapter name is refused before anything is read, listing the real ones."""
    path = tmp_path / "x.json"
    path.write_text("{}")
    result = dry_run(path, "shopfy")
    assert result.exit_code == 2
    assert "shopify" in result.stderr


def test_a_dry_run_needs_an_adapter(tmp_path: Path) -> None:
    """Plain JSON Lines of interactions have nothing to dry-run: --dry-run asks for --adapter."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(courier_scan()))
    result = CliRunner().invoke(main, ["publish", "--dry-run", str(path)])
    assert result.exit_code == 2
    assert "--adapter" in result.stderr
