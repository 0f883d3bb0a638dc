"""`journey-stitcher show IDENTIFIER` and `journey-stitcher erase IDENTIFIER` (SPEC §10).

Both read the worker's live state in Redis with the worker's settings (REDIS_URL, key prefix,
partitions, pepper, configuration file). Exit status: 0; 1 when nobody is stored under the
IDENTIFIER or Redis/Kafka fail (a message, never a traceback); 2 for a malformed IDENTIFIER.
No raw identifier value is ever printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import orjson

from journey_stitcher.config import StitcherConfig, load_config
from journey_stitcher.errors import ConfigurationError
from journey_stitcher.ops.erasure import Erased, ErasureConflict, erase, send_tombstones
from journey_stitcher.ops.footprint import Footprint, collect
from journey_stitcher.ops.subject import InvalidIdentifier, Subject, parse_subject
from journey_stitcher.ops.timeline import render_text, timeline
from journey_stitcher.settings import Settings
from journey_stitcher.storage.redis_state import KeyLayout

__all__ = ["erase_command", "show_command"]

T = TypeVar("T")
IDENTIFIER_HELP = ("IDENTIFIER: TYPE:VALUE (email:ann@example.com, phone:+39…, order_id:A-1) "
                   "or a customer id (cus_…).")


@dataclass(frozen=True, slots=True)
class _Context:
    settings: Settings
    config: StitcherConfig
    layout: KeyLayout
    subject: Subject


def _context(identifier: str) -> _Context:
    from journey_stitcher.stitcher import normalizer_for

    try:
        settings = Settings()
    except Exception as error:  # pydantic's ValidationError names the variable
        raise click.ClickException(f"invalid environment: {error}") from error
    try:
        config = load_config(settings.config)
        pepper = settings.pepper_bytes()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    if settings.pepper_is_development and config.hashing:
        click.echo("warning: JOURNEY_STITCHER_PEPPER is not set: hashing with the development "
                   "pepper, which finds nothing the production worker wrote", err=True)
    try:
        subject = parse_subject(identifier, config.catalog, normalizer_for(config, pepper),
                                hashing=config.hashing)
    except InvalidIdentifier as error:
        raise click.BadParameter(str(error), param_hint="IDENTIFIER") from error
    layout = KeyLayout(prefix=settings.redis_prefix, shards=settings.partitions)
    return _Context(settings, config, layout, subject)


def _with_redis(context: _Context, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(redis)`; Redis failures become a message naming the setting, not the URL
    (it holds the password)."""
    from redis.exceptions import RedisError

    from journey_stitcher.ops.redis import connect_redis

    async def run() -> T:
        redis = connect_redis(context.settings)
        try:
            return await work(redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(run())
    except (RedisError, OSError) as error:
        raise click.ClickException(f"Redis failed ({type(error).__name__}: {error}); check "
                                   "REDIS_URL and that Redis is reachable") from error


def _unknown(context: _Context) -> click.ClickException:
    prefix = f"JOURNEY_STITCHER_REDIS_PREFIX {context.settings.redis_prefix!r}"
    hint = (f" (is {prefix} the worker's?)" if context.subject.key is None
            else f" (are JOURNEY_STITCHER_PEPPER and {prefix} the worker's?)")
    return click.ClickException(f"no customer is stored under {context.subject.label}" + hint)


@click.command("show", epilog=IDENTIFIER_HELP)
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the timeline.")
def show_command(identifier: str, as_json: bool) -> None:
    """Print a customer's profile and journeys as a timeline, handoffs marked."""
    context = _context(identifier)
    footprint = _footprint(context)
    document = timeline(footprint, context.subject.label, context.config.hashing)
    click.echo(orjson.dumps(document).decode() if as_json else render_text(document))


@click.command("erase", epilog=IDENTIFIER_HELP)
@click.argument("identifier")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON document.")
@click.option("--tombstones-only", is_flag=True,
              help="Only send the tombstones of IDENTIFIER, a customer id (after an erase whose "
                   "tombstones could not be sent).")
def erase_command(identifier: str, yes: bool, as_json: bool, tombstones_only: bool) -> None:
    """Erase a customer (profile, aliases, identifiers, journeys, stored outputs) from Redis and
    send tombstones (null values keyed by the customer ids) to the output topics."""
    context = _context(identifier)
    if tombstones_only:
        if context.subject.customer_id is None:
            raise click.BadParameter("--tombstones-only takes a customer id (cus_…)",
                                     param_hint="IDENTIFIER")
        sent = _tombstones(context, [context.subject.customer_id])
        click.echo(f"sent {sent} tombstones for {context.subject.customer_id}")
        return
    if not yes:
        _confirm(context)

    async def remove(redis: Any) -> Erased | None:
        return await erase(redis, context.layout, context.subject)

    try:
        erased = _with_redis(context, remove)
    except ErasureConflict as error:
        raise click.ClickException(str(error)) from error
    if erased is None:
        raise _unknown(context)
    sent = _tombstones(context, list(erased.customer_ids))
    if as_json:
        click.echo(orjson.dumps({**erased.as_dict(), "tombstones": sent}).decode())
    else:
        click.echo(_summary(context.subject.label, erased, sent))


def _footprint(context: _Context) -> Footprint:
    """What Redis holds about the subject; exits 1 when nothing."""
    async def read(redis: Any) -> Footprint | None:
        async with redis.pipeline(transaction=True) as pipe:
            return await collect(pipe, redis, context.layout, context.subject)

    footprint = _with_redis(context, read)
    if footprint is None:
        raise _unknown(context)
    return footprint


def _confirm(context: _Context) -> None:
    footprint = _footprint(context)
    click.echo(_summary(context.subject.label, Erased.of(footprint, 0), None), err=True)
    click.confirm("Erase this customer? It cannot be undone", abort=True, err=True)


def _tombstones(context: _Context, customer_ids: list[str]) -> int:
    from aiokafka.errors import KafkaError

    from journey_stitcher.kafka import kafka_client_options
    from journey_stitcher.worker.records import Topics

    settings = context.settings
    try:
        options = kafka_client_options(settings)
        return asyncio.run(send_tombstones(settings.kafka_bootstrap_servers, options,
                                           Topics.from_settings(settings).outputs(), customer_ids))
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error
    except (KafkaError, OSError) as error:
        retry = " ".join(f"journey-stitcher erase --tombstones-only {cid}" for cid in customer_ids)
        raise click.ClickException(
            f"tombstones not sent to Kafka at {settings.kafka_bootstrap_servers} "
            f"({type(error).__name__}: {error}); the Redis state is erased. Send them with: "
            f"{retry}") from error


def _summary(label: str, erased: Erased, tombstones: int | None) -> str:
    done = tombstones is not None
    verb = "erased" if done else "would erase"
    lines = [
        f"{verb} customer {erased.customer_ids[0]} (found by {label})",
        f"  aliases: {erased.aliases}, isolated customers: {erased.isolated}, "
        f"profiles: {erased.profiles}",
        f"  identifiers: {erased.identifiers}, owned references: {erased.references}",
        f"  journeys: {erased.journeys} in {erased.journey_states} journey state(s); "
        f"outputs kept for re-emission: {erased.outputs} in {erased.outputs_hashes} hash(es)",
        f"  identity records: {erased.identity_records}, deadline entries: {erased.deadlines}, "
        f"outbox entries: {erased.outbox}",
    ]
    if len(erased.customer_ids) > 1:
        lines.append(f"  customer ids: {', '.join(erased.customer_ids)}")
    if done:
        lines.append(f"  tombstones sent and acknowledged: {tombstones}")
    return "\n".join(lines)
