"""`journey-stitcher lag`: the consumer group's lag per partition, and a threshold to alert on.

Exit status: 0, or 2 when some partition's lag exceeds `--max-lag` (1 for an error: Kafka
unreachable, no such topic).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import click
import orjson

from journey_stitcher.errors import ConfigurationError
from journey_stitcher.ops.health import describe_error
from journey_stitcher.ops.lag import PartitionLag
from journey_stitcher.settings import Settings

__all__ = ["lag_command", "render_json", "render_table"]

EXIT_ABOVE_THRESHOLD = 2


@click.command("lag")
@click.option("--group", help="Consumer group (default: $JOURNEY_STITCHER_APP_ID, journey-stitcher).")
@click.option("--topic", "topics", multiple=True, metavar="TOPIC",
              help="Topic to report; repeatable (default: the interactions and resolved topics).")
@click.option("--max-lag", type=click.IntRange(min=0), metavar="N",
              help="Exit with status 2 when a partition is more than N messages behind.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def lag_command(group: str | None, topics: tuple[str, ...], max_lag: int | None,
                as_json: bool) -> None:
    """Print the consumer group's lag per partition (messages, and age of the oldest)."""
    from aiokafka.errors import KafkaError

    from journey_stitcher.kafka import kafka_client_options

    try:
        settings = Settings()
    except Exception as error:  # pydantic's ValidationError names the variable
        raise click.ClickException(f"invalid environment: {error}") from error
    group_id = group or settings.app_id
    names = topics or (settings.topic_interactions, settings.topic_resolved)
    try:
        options = kafka_client_options(settings)
        lags, missing = asyncio.run(_measure(settings.kafka_bootstrap_servers, options, group_id,
                                             names))
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    except (KafkaError, OSError, TimeoutError) as error:
        raise click.ClickException(
            f"cannot read the lag from Kafka at {settings.kafka_bootstrap_servers}: "
            f"{describe_error(error)}") from error
    for name in missing:
        click.echo(f"topic {name} does not exist", err=True)
    if not lags:
        raise click.ClickException(f"none of the topics exist: {', '.join(names)}")
    click.echo(render_json(group_id, lags) if as_json else render_table(group_id, lags))
    above = [p for p in lags if max_lag is not None and p.lag > max_lag]
    if above:
        click.echo(f"{len(above)} partition(s) more than {max_lag} messages behind", err=True)
        raise click.exceptions.Exit(EXIT_ABOVE_THRESHOLD)


async def _measure(
    bootstrap: str, options: dict[str, Any], group: str, topics: Sequence[str]
) -> tuple[list[PartitionLag], list[str]]:
    from journey_stitcher.ops.lag import LagProbe

    probe = LagProbe(bootstrap, options)
    await probe.start()
    try:
        partitions = await probe.partitions(topics)
        found = {tp.topic for tp in partitions}
        return await probe.measure(group, partitions), [t for t in topics if t not in found]
    finally:
        await probe.stop()


def _row(p: PartitionLag) -> dict[str, Any]:
    return {"topic": p.topic, "partition": p.partition, "committed": p.committed, "end": p.end,
            "lag": p.lag, "lag_seconds": p.age_seconds}


def render_json(group: str, lags: Sequence[PartitionLag]) -> str:
    return orjson.dumps({"group": group, "total_lag": sum(p.lag for p in lags),
                         "partitions": [_row(p) for p in lags]}).decode()


def render_table(group: str, lags: Sequence[PartitionLag]) -> str:
    header = ("TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG SECONDS")
    rows = [header] + [
        (p.topic, str(p.partition), "-" if p.committed is None else str(p.committed), str(p.end),
         str(p.lag), "-" if p.age_seconds is None else f"{p.age_seconds:.1f}")
        for p in lags
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"consumer group {group}: {sum(p.lag for p in lags)} messages behind"]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                          strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)
