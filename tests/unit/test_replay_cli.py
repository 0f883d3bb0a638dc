"""`journey-stitcher replay` as a command: its options and how it fails (SPEC §10)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from journey_stitcher.cli import main

LINE = orjson.dumps({
    "event_id": "evt-1", "occurred_at": "2026-03-01T10:00:00Z", "channel": "web",
    "touchpoint": "inform",
    "identifiers": [{"type": "email", "value": "anna@example.com", "verified": True}],
}) + b"\n"


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(LINE)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["replay", *args])
    return result.exit_code, result.stdout, result.stderr


def test_outputs_on_stdout_and_the_summary_on_stderr(events: Path) -> None:
    code, out, err = run(str(events))
    assert code == 0
    assert [orjson.loads(line)["type"] for line in out.splitlines()] == [
        "journey.started"]
    assert "accepted 1, rejected 0" in err
    assert "{" not in err


@pytest.mark.parametrize("until", [
    "2026-03-09T10:00:00",  # no offset
    "2026-03-09 10:00:00Z",  # a space, not RFC 3339's T
    "20260309T100000Z",  # ISO 8601's basic form
    "tomorrow",
    "",  # not the same as leaving it out
])
def test_until_takes_only_what_occurred_at_takes(events: Path, until: str) -> None:
    code, out, err = run(str(events), "--until", until)
    assert code == 2
    assert "Invalid value for '--until'" in err
    assert "RFC 3339" in err
    assert out == ""


def test_until_expires_the_idle_journey(events: Path) -> None:
    code, out, _ = run(str(events), "--until", "2026-06-01T00:00:00+02:00")
    assert code == 0
    assert [orjson.loads(line)["type"] for line in out.splitlines()] == [
        "journey.started", "journey.abandoned"]


def test_an_output_that_cannot_be_written_fails_the_run_in_one_line(events: Path) -> None:
    code, _, err = run(str(events), "--output", "/dev/full")
    assert code == 1
    assert err.startswith("Error: replay stopped: No space left on device")
    assert "Traceback" not in err


def test_an_unreadable_input_is_named(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "missing.jsonl"))
    assert code == 1
    assert "missing.jsonl" in err
    assert "Traceback" not in err
