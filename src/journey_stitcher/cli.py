"""The `journey-stitcher` command line: one entry point, one sub-command per job (SPEC §10)."""

from __future__ import annotations

import os
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
    """`--until`: the same RFC 3339 form `occurred_at` must have (a `T`, an offset)."""
    from journey_stitcher.interactions.parse import parse_timestamp

    moment = parse_timestamp(value)
    if moment is None:
        raise click.BadParameter(
            f"not an RFC 3339 timestamp with an offset: {value!r} (e.g. 2024-05-01T09:30:00Z)",
            param_hint="'--until'")
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
    until_at = _parse_time(until) if until is not None else None
    try:
        config = load_config(config_path or settings.config)
        pepper = settings.pepper_bytes()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    stitcher = Stitcher(config, pepper)
    try:
        with ExitStack() as stack:
            source = _open(stack, input_path, "rb", sys.stdin.buffer)
            output = _open(stack, output_path, "wb", sys.stdout.buffer)
            dlq = _open(stack, dlq_path, "wb", sys.stdout.buffer) if dlq_path else None
            summary = replay(stitcher, source, output, dlq, until_at)
            output.flush()
            if dlq is not None:
                dlq.flush()
    except OSError as error:
        # A full disk, a closed pipe, an unreadable input: the run failed, said in one line.
        if isinstance(error, BrokenPipeError):
            # Nothing more can reach the reader; keep the interpreter's own final flush quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise click.ClickException(f"replay stopped: {error.strerror or error}") from error
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
    from journey_stitcher.ops.cli import lag_command
    from journey_stitcher.ops.privacy_cli import erase_command, show_command

    main.add_command(generate)
    main.add_command(lag_command)
    main.add_command(show_command)
    main.add_command(erase_command)


_register_optional_commands()


@main.command("worker")
def worker_command() -> None:
    """Run the streaming worker (configuration from the environment; see the README)."""
    from aiokafka.errors import KafkaConnectionError

    from journey_stitcher.kafka import kafka_client_options
    from journey_stitcher.worker.app import run_worker

    settings = _settings()
    try:
        config = load_config(settings.config)
        settings.pepper_bytes()
        kafka_client_options(settings)  # incomplete Kafka security stops here, named
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    try:
        run_worker(settings, config)
    except KafkaConnectionError as error:  # before Faust starts: creating the topics
        raise click.ClickException(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers} ({error}); check "
            "KAFKA_BOOTSTRAP_SERVERS and JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL") from error


@main.command("publish")
@click.argument("input_path", metavar="FILE", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--topic", help="Topic to publish to (default: the interactions topic).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--adapter", "adapter_name", metavar="NAME",
              help="FILE holds vendor payloads for this adapter (twilio: one form body per line; "
                   "others: JSON, a JSON array, JSON Lines or CSV).")
@click.option("--header", "header_values", multiple=True, metavar="'NAME: VALUE'",
              help="A request header the adapter reads, e.g. 'X-Shopify-Topic: orders/create'.")
@click.option("--dry-run", is_flag=True,
              help="With --adapter: write the interaction events to stdout, publish nothing; "
                   "exit 1 if any payload was rejected.")
def publish_command(
    input_path: str, topic: str | None, quiet: bool, adapter_name: str | None = None,
    header_values: tuple[str, ...] = (), dry_run: bool = False,
) -> None:
    """Send JSON Lines of interaction events (or, with --adapter, vendor payloads) to Kafka."""
    import asyncio

    if adapter_name is not None:
        _publish_vendor_file(input_path, adapter_name, header_values, topic, quiet, dry_run)
        return
    if dry_run or header_values:
        raise click.UsageError("--dry-run and --header go with --adapter")

    from rich.progress import Progress

    from journey_stitcher.kafka import ensure_topic, kafka_client_options
    from journey_stitcher.publishing import PartitionKeys, publish_lines

    settings = _settings()
    try:
        config = load_config(settings.config)
        keys = PartitionKeys(config, settings.pepper_bytes())
        options = kafka_client_options(settings)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    name = topic or settings.topic_interactions
    bootstrap = settings.kafka_bootstrap_servers

    async def run() -> None:
        await ensure_topic(bootstrap, name, settings.partitions, settings.replication_factor,
                           options=options)
        with ExitStack() as stack, Progress(disable=quiet, transient=True) as bar:
            source = _open(stack, input_path, "rb", sys.stdin.buffer)
            task = bar.add_task(f"publishing to {name}", total=None)

            def ticks() -> Iterator[None]:
                while True:
                    bar.advance(task)
                    yield None

            report = await publish_lines(source, bootstrap=bootstrap, topic=name, keys=keys,
                                         progress=ticks(), options=options)
        spread = ", ".join(f"p{p}={n}" for p, n in sorted(report.partitions.items()))
        click.echo(f"published {report.sent} events to {name} ({spread}); "
                   f"{report.unkeyed} without a usable key", err=True)

    asyncio.run(run())


def _publish_vendor_file(
    input_path: str, adapter_name: str, header_values: tuple[str, ...], topic: str | None,
    quiet: bool, dry_run: bool,
) -> None:
    """`publish --adapter`: vendor payloads through the adapter, then as the gateway would."""
    import asyncio
    from datetime import UTC

    import orjson
    from rich.progress import Progress

    from journey_stitcher.gateway.files import adapt_file, publish_payloads, rejection_lines
    from journey_stitcher.gateway.main import adapters_for, build_producer
    from journey_stitcher.gateway.producer import KafkaUnavailable

    settings = _settings()
    adapters = adapters_for(settings)
    adapter = adapters.get(adapter_name)
    if adapter is None:
        raise click.BadParameter(f"{adapter_name!r}; known: {', '.join(sorted(adapters))}",
                                 param_hint="--adapter")
    headers = dict(_header(value) for value in header_values)
    with ExitStack() as stack:
        data = _open(stack, input_path, "rb", sys.stdin.buffer).read()
    payloads = adapt_file(adapter_name, adapter, data, headers, datetime.now(UTC))
    problems = rejection_lines(payloads)
    events = [event for payload in payloads for event in payload.result.events]
    skipped = sum(len(payload.result.skipped) for payload in payloads)
    for line in problems:
        click.echo(f"rejected: {line}", err=True)
    if dry_run:
        out = sys.stdout.buffer
        for event in events:
            out.write(orjson.dumps(event) + b"\n")
        out.flush()
        click.echo(f"{len(events)} events, {len(problems)} rejected, {skipped} skipped "
                   "(dry run: nothing published)", err=True)
        if problems:
            raise click.exceptions.Exit(1)
        return
    try:
        config = load_config(settings.config)
        producer = build_producer(settings, config, topic=topic)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error

    async def run() -> tuple[int, int]:
        try:
            with Progress(disable=quiet, transient=True) as bar:
                task = bar.add_task(f"publishing to {producer.topic}", total=len(events))
                return await publish_payloads(
                    payloads, producer, name=adapter_name, dlq_topic=settings.topic_dlq,
                    progress=lambda n: bar.advance(task, n),
                )
        finally:
            await producer.stop()

    try:
        published, dead = asyncio.run(run())
    except KafkaUnavailable as error:
        raise click.ClickException(f"not published: {error}") from error
    click.echo(f"published {published} events to {producer.topic}; {dead} rejected items "
               f"dead-lettered to {settings.topic_dlq}; {skipped} skipped", err=True)
    if problems:
        raise click.exceptions.Exit(1)


def _header(value: str) -> tuple[str, str]:
    name, sep, text = value.partition(":")
    if not sep or not name.strip():
        raise click.BadParameter(f"{value!r} is not 'NAME: VALUE'", param_hint="--header")
    return name.strip(), text.strip()


@main.command("gateway")
@click.option("--host", help="Address to listen on (default: $JOURNEY_STITCHER_GATEWAY_HOST, "
                             "127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to listen on (default: $JOURNEY_STITCHER_GATEWAY_PORT, 8080).")
def gateway_command(host: str | None, port: int | None) -> None:
    """Serve the HTTP ingest endpoints: vendor webhooks to the interactions topic."""
    from journey_stitcher.gateway.main import run_gateway

    settings = _settings()
    try:
        config = load_config(settings.config)
        settings.pepper_bytes()
        run_gateway(settings, config, host=host, port=port)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error


@main.command("demo")
@click.option("--events", default=6000, show_default=True, help="Interactions to generate.")
@click.option("--customers", default=600, show_default=True, help="People they come from.")
def demo_command(events: int, customers: int) -> None:
    """Run a realistic omnichannel sample through a real worker and summarise it."""
    import asyncio

    from journey_stitcher.demo import run_demo

    settings = _settings()
    asyncio.run(run_demo(settings.kafka_bootstrap_servers,
                         settings.redis_url.get_secret_value(), events, customers))
