"""The `journey-stitcher` command line: one entry point, one sub-command per job (SPEC §10)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, cast

import click

from journey_stitcher.config import load_config
from journey_stitcher.errors import ConfigurationError
from journey_stitcher.settings import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as error:  # pydantic's ValidationError names the variable
        raise click.ClickException(f"invalid environment: {error}") from error


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"not an RFC 3339 timestamp: {value!r}") from error
    if moment.tzinfo is None:
        raise click.BadParameter(f"needs an offset, e.g. {value}Z or {value}+01:00")
    return moment


@click.group()
@click.version_option(package_name="journey-stitcher")
def main() -> None:
    """journey-stitcher: one continuous journey per customer across every channel."""


@main.command("replay")
@click.argument("input_path", metavar="INPUT", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--output", "-o", "output_path", type=click.Path(allow_dash=True, dir_okay=False),
              default="-", show_default=True, help="Where to write the output CloudEvents.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Configuration file (YAML); default: $JOURNEY_STITCHER_CONFIG or built-in.")
@click.option("--until", "until", metavar="TIME",
              help="Advance the clock to TIME at the end (RFC 3339), expiring idle journeys.")
@click.option("--dlq", "dlq_path", type=click.Path(allow_dash=True, dir_okay=False),
              help="Write rejected lines here as JSON Lines {line, reason, message}.")
def replay_command(
    input_path: str, output_path: str, config_path: Path | None, until: str | None,
    dlq_path: str | None,
) -> None:
    """Run the stitching core offline over JSON Lines of interaction events."""
    from journey_stitcher.replay import replay
    from journey_stitcher.stitcher import Stitcher

    settings = _settings()
    until_at = _parse_time(until) if until else None
    try:
        config = load_config(config_path or settings.config)
        pepper = settings.pepper_bytes()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    stitcher = Stitcher(config, pepper)
    with ExitStack() as stack:
        source = _open(stack, input_path, "rb", sys.stdin.buffer)
        output = _open(stack, output_path, "wb", sys.stdout.buffer)
        dlq = _open(stack, dlq_path, "wb", sys.stdout.buffer) if dlq_path else None
        summary = replay(stitcher, source, output, dlq, until_at)
        output.flush()
    click.echo(summary.render(stitcher), err=True)


def _open(stack: ExitStack, path: str, mode: str, dash: BinaryIO) -> BinaryIO:
    if path == "-":
        return dash
    try:
        handle = cast(BinaryIO, stack.enter_context(open(path, mode)))  # noqa: SIM115
    except OSError as error:
        raise click.ClickException(f"{path}: {error.strerror}") from error
    return handle


def _register_optional_commands() -> None:
    """Commands that live with their subsystem register here."""
    from journey_stitcher.generator.cli import generate

    main.add_command(generate)


_register_optional_commands()


@main.command("worker")
def worker_command() -> None:
    """Run the streaming worker (configuration from the environment; see the README)."""
    from journey_stitcher.worker.app import run_worker

    settings = _settings()
    try:
        config = load_config(settings.config)
        settings.pepper_bytes()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    run_worker(settings, config)


@main.command("publish")
@click.argument("input_path", metavar="FILE", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--topic", help="Topic to publish to (default: the interactions topic).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def publish_command(input_path: str, topic: str | None, quiet: bool) -> None:
    """Send JSON Lines of interaction events to Kafka, keyed by their best identifier."""
    import asyncio

    from rich.progress import Progress

    from journey_stitcher.kafka import ensure_topic
    from journey_stitcher.publishing import PartitionKeys, publish_lines

    settings = _settings()
    try:
        config = load_config(settings.config)
        keys = PartitionKeys(config, settings.pepper_bytes())
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    name = topic or settings.topic_interactions
    bootstrap = settings.kafka_bootstrap_servers

    async def run() -> None:
        await ensure_topic(bootstrap, name, settings.partitions, settings.replication_factor)
        with ExitStack() as stack, Progress(disable=quiet, transient=True) as bar:
            source = _open(stack, input_path, "rb", sys.stdin.buffer)
            task = bar.add_task(f"publishing to {name}", total=None)

            def ticks() -> Iterator[None]:
                while True:
                    bar.advance(task)
                    yield None

            report = await publish_lines(source, bootstrap=bootstrap, topic=name, keys=keys,
                                         progress=ticks())
        spread = ", ".join(f"p{p}={n}" for p, n in sorted(report.partitions.items()))
        click.echo(f"published {report.sent} events to {name} ({spread}); "
                   f"{report.unkeyed} without a usable key", err=True)

    asyncio.run(run())
