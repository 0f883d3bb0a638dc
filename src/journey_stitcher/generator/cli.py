"""`generate`: write generated traffic as JSON Lines (registered by the main CLI)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import BinaryIO

import click

from journey_stitcher.generator.config import DEFAULT_START, GeneratorConfig
from journey_stitcher.generator.lines import generate_line_bytes


def _write(cfg: GeneratorConfig, out: BinaryIO) -> int:
    count = 0
    buffer: list[bytes] = []
    for line in generate_line_bytes(cfg):
        buffer.append(line)
        if len(buffer) == 2048:
            out.write(b"\n".join(buffer) + b"\n")
            count += len(buffer)
            buffer.clear()
    if buffer:
        out.write(b"\n".join(buffer) + b"\n")
        count += len(buffer)
    return count


@click.command("generate")
@click.option("--events", type=click.IntRange(min=0), default=10_000, show_default=True,
              help="Number of valid interaction events.")
@click.option("--customers", type=click.IntRange(min=1), default=1_000, show_default=True,
              help="Size of the population (activity is Zipf-skewed over it).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed: the same options and seed give the same bytes.")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help=f"Start of the period, UTC (default {DEFAULT_START.date()}).")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Length of the period in days (default 30; at most 2 with --recent).")
@click.option("--recent", is_flag=True,
              help="Events over the last 2 days, ending a few minutes before now.")
@click.option("--conflict-free", is_flag=True,
              help="No identifier conflicts: resolution does not depend on arrival order.")
@click.option("--late-fraction", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="Share of events delivered out of order (minutes to hours late).")
@click.option("--anonymous-fraction", type=click.FloatRange(0, 1), default=0.08,
              show_default=True, help="Share of people who never sign in.")
@click.option("--invalid-fraction", type=click.FloatRange(0, 1), default=0.0,
              show_default=True, help="Probability of a bad line after each valid line.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="Output file (`-` for stdout).")
def generate(events: int, customers: int, seed: int, start: datetime | None, days: float | None,
             recent: bool, conflict_free: bool, late_fraction: float, anonymous_fraction: float,
             invalid_fraction: float, output: str) -> None:
    """Generate realistic omnichannel interaction events as JSON Lines."""
    options: dict[str, object] = {}
    if start is not None:
        options["start"] = start.replace(tzinfo=DEFAULT_START.tzinfo)
    cfg = GeneratorConfig(
        events=events, customers=customers, seed=seed, days=days, recent=recent,
        conflict_free=conflict_free, late_fraction=late_fraction,
        anonymous_fraction=anonymous_fraction, invalid_fraction=invalid_fraction,
        **options,  # type: ignore[arg-type]
    )
    if output == "-":
        count = _write(cfg, sys.stdout.buffer)
        sys.stdout.flush()
    else:
        with open(output, "wb") as out:
            count = _write(cfg, out)
    click.echo(f"generated {count} lines", err=True)
