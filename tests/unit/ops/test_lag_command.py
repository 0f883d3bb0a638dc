"""`journey-stitcher lag`: a table or JSON per partition, and exit status 2 above --max-lag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from journey_stitcher.cli import main
from journey_stitcher.ops import cli as lag_cli
from journey_stitcher.ops.lag import PartitionLag

LAGS = [
    PartitionLag("interactions", 0, 1200, 1200, age_seconds=0.0),
    PartitionLag("interactions", 1, 830, 1530, age_seconds=42.5),
    PartitionLag("journey-stitcher.resolved", 0, None, 12, age_seconds=3.0),
]


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, ...]]]:
    """The broker answers with LAGS; the questions asked are recorded."""
    asked: list[tuple[str, tuple[str, ...]]] = []

    async def measure(bootstrap: str, options: dict[str, Any], group: str,
                      topics: Sequence[str]) -> tuple[list[PartitionLag], list[str]]:
        asked.append((group, tuple(topics)))
        return LAGS, []

    monkeypatch.setattr(lag_cli, "_measure", measure)
    monkeypatch.delenv("JOURNEY_STITCHER_APP_ID", raising=False)
    monkeypatch.delenv("JOURNEY_STITCHER_TOPIC_INTERACTIONS", raising=False)
    monkeypatch.delenv("JOURNEY_STITCHER_TOPIC_RESOLVED", raising=False)
    return asked


def test_the_table_shows_every_partition_and_the_total(measured: list[Any]) -> None:
    """Without options: the app's group on the interactions and resolved topics, as a table."""
    result = CliRunner().invoke(main, ["lag"])
    assert result.exit_code == 0, result.output
    assert measured == [("journey-stitcher", ("interactions", "journey-stitcher.resolved"))]
    lines = result.output.splitlines()
    assert lines[0] == "consumer group journey-stitcher: 712 messages behind"
    assert lines[1].split() == ["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG", "SECONDS"]
    assert lines[3].split() == ["interactions", "1", "830", "1530", "700", "42.5"]
    assert lines[4].split() == ["journey-stitcher.resolved", "0", "-", "12", "12", "3.0"]


def test_json_carries_the_same_numbers(measured: list[Any]) -> None:
    """--json: one document with the group, the total and one object per partition."""
    result = CliRunner().invoke(main, ["lag", "--json", "--group", "replay-1", "--topic", "in"])
    assert result.exit_code == 0, result.output
    assert measured == [("replay-1", ("in",))]
    document = orjson.loads(result.output)
    assert document["total_lag"] == 712
    assert document["partitions"][1] == {"topic": "interactions", "partition": 1, "committed": 830,
                                          "end": 1530, "lag": 700, "lag_seconds": 42.5}


def test_above_the_threshold_the_exit_status_is_2(measured: list[Any]) -> None:
    """One partition is 700 behind: --max-lag 500 exits 2, --max-lag 700 exits 0."""
    runner = CliRunner()
    above = runner.invoke(main, ["lag", "--max-lag", "500"])
    assert above.exit_code == 2
    assert "1 partition(s) more than 500 messages behind" in above.output
    assert runner.invoke(main, ["lag", "--max-lag", "700"]).exit_code == 0
