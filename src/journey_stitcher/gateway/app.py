"""The aiohttp application: `POST /v1/ingest/<adapter>`, `/healthz`, `/readyz`, `/metrics`.

One post, in order (docs/channels.md, "Gateway"):

    404  no adapter of that name
    503  the endpoint's secret is not configured ("not_configured"; no Retry-After)
    413  the body is larger than `gateway_max_body_bytes` (or a record larger than Kafka takes)
    401  the vendor's signature does not sign this body
    400  nothing in the body is usable (unreadable, or every item rejected): nothing published
    503  Kafka did not acknowledge in time ("unavailable", with Retry-After): nothing was lost,
         the vendor retries and duplicates are deduplicated by event id
    202  Kafka acknowledged every event and every dead letter

A batch with some rejected items is accepted (202): the valid items are published, the rejected
ones go to the dead-letter topic (source.topic `gateway/<adapter>`, partition and offset -1) and
are listed in the answer, so the vendor does not retry a whole batch forever for one bad item.

Logs carry the adapter, counts and reasons only: no identifier value, no payload, no secret, no
query string.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from journey_stitcher.adapters import ADAPTERS, Adapter, AdapterResult, Rejection
from journey_stitcher.gateway.auth import Access, Authenticator, SignedRequest, public_url
from journey_stitcher.gateway.producer import (
    EventProducer,
    KafkaUnavailable,
    RecordTooLarge,
    dead_letters,
)
from journey_stitcher.ops.metrics import CONTENT_TYPE, GatewayMetrics
from journey_stitcher.settings import Settings

__all__ = ["METRICS", "PRODUCER", "PathOnlyAccessLogger", "create_gateway"]

log = logging.getLogger(__name__)

PRODUCER = web.AppKey("producer", EventProducer)
METRICS = web.AppKey("metrics", GatewayMetrics)
INGEST_PATH = "/v1/ingest/{adapter}"
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_gateway(
    settings: Settings,
    producer: EventProducer,
    *,
    adapters: Mapping[str, Adapter] = ADAPTERS,
    clock: Callable[[], datetime] = _utc_now,
    metrics: GatewayMetrics | None = None,
) -> web.Application:
    """The gateway application; the producer is started and stopped with it.

    Raises ``ConfigurationError`` (naming the variable) for an unusable secret.
    """
    app = web.Application(client_max_size=settings.gateway_max_body_bytes)
    app[PRODUCER] = producer
    app[METRICS] = metrics = metrics or GatewayMetrics()
    ingest = _Ingest(settings, producer, Authenticator(settings), adapters, clock, metrics)
    app.router.add_post(INGEST_PATH, ingest.serve)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.on_startup.append(_start_producer)
    app.on_cleanup.append(_stop_producer)
    if settings.gateway_allow_unsigned:
        log.warning("JOURNEY_STITCHER_GATEWAY_ALLOW_UNSIGNED is on: endpoints without a secret "
                    "accept unsigned posts (local demos only)")
    log.info("ingest endpoints: %s", ", ".join(
        f"{name} ({state})" for name, state in ingest.auth.describe(adapters).items()
    ))
    return app


class _Ingest:
    """`POST /v1/ingest/<adapter>`: verify, adapt, publish, answer."""

    def __init__(
        self, settings: Settings, producer: EventProducer, auth: Authenticator,
        adapters: Mapping[str, Adapter], clock: Callable[[], datetime], metrics: GatewayMetrics,
    ) -> None:
        self.auth = auth
        self._metrics = metrics
        self._producer = producer
        self._adapters = adapters
        self._clock = clock
        self._max_body = settings.gateway_max_body_bytes
        self._public_url = settings.gateway_public_url
        self._dlq_topic = settings.topic_dlq
        self._retry_after = str(settings.gateway_retry_after_seconds)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """`handle`, counted by adapter (`unknown` for no adapter) and status."""
        name = request.match_info["adapter"]
        label = name if name in self._adapters else "unknown"
        try:
            response = await self.handle(request)
        except web.HTTPException as error:
            self._metrics.answered(label, error.status)
            raise
        except Exception:
            self._metrics.answered(label, 500)
            raise
        self._metrics.answered(label, response.status)
        return response

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["adapter"]
        adapter = self._adapters.get(name)
        if adapter is None:
            return _error(404, "unknown_adapter",
                          f"no adapter {name!r}; known: {', '.join(sorted(self._adapters))}")
        if not self.auth.configured(name):
            return _error(503, "not_configured",
                          f"the {name} endpoint is not configured: set {self.auth.variable(name)}")
        body = await self._body(request)
        if body is None:
            return _error(413, "too_large", f"the body exceeds {self._max_body} bytes")
        access = self.auth.verify(name, self._signed(request, body))
        if access is Access.DENIED:
            log.warning("ingest %s: 401, signature missing or wrong", name)
            return _error(401, "invalid_signature",
                          f"{self.auth.proof(name)} does not authenticate this request")
        result = adapter(body, request.headers, self._clock())
        if result.rejected and not result.events and not result.skipped:
            log.info("ingest %s: 400, %s", name, _reasons(result.rejected))
            return _json(400, {"error": "invalid_payload",
                               "message": "nothing in the body could be used; nothing published",
                               "rejected": _items(result.rejected)})
        return await self._publish(name, body, result)

    async def _publish(self, name: str, body: bytes, result: AdapterResult) -> web.StreamResponse:
        letters = dead_letters(self._dlq_topic, f"gateway/{name}", name, body, result.rejected)
        try:
            await self._producer.send_events(result.events, letters)
        except KafkaUnavailable as error:
            log.warning("ingest %s: 503, %s", name, error)
            return _error(503, "unavailable", "Kafka did not acknowledge the events; retry",
                          headers={"Retry-After": self._retry_after})
        except RecordTooLarge as error:
            log.warning("ingest %s: 413, %s", name, error.message)
            return _error(413, "too_large", error.message)
        self._metrics.published(name, len(result.events))
        log.info("ingest %s: 202, %d published, %d dead-lettered%s, %d skipped", name,
                 len(result.events), len(letters),
                 f" ({_reasons(result.rejected)})" if result.rejected else "", len(result.skipped))
        if name == "twilio":  # Twilio reads the answer as TwiML: an empty one does nothing
            return web.Response(status=202, text=TWIML_EMPTY, content_type="text/xml")
        return _json(202, {"published": len(result.events), "dead_lettered": len(letters),
                           "rejected": _items(result.rejected),
                           "skipped": _items(result.skipped)})

    async def _body(self, request: web.Request) -> bytes | None:
        """The raw body, or None when it is larger than allowed."""
        if request.content_length is not None and request.content_length > self._max_body:
            return None
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            return None

    def _signed(self, request: web.Request, body: bytes) -> SignedRequest:
        url = public_url(base=self._public_url, scheme=request.scheme, host=request.host,
                         path_qs=request.raw_path, headers=request.headers)
        return SignedRequest(url, request.headers, body)


def _items(rejections: Sequence[Rejection]) -> list[dict[str, Any]]:
    """Rejections for the answer: the sender sees its own values in the messages."""
    return [
        {key: value for key, value in (("index", r.index), ("item_id", r.item_id),
                                       ("reason", r.reason), ("field", r.field),
                                       ("message", r.message)) if value is not None}
        for r in rejections
    ]


def _reasons(rejections: Sequence[Rejection]) -> str:
    counts: dict[str, int] = {}
    for r in rejections:
        counts[r.reason] = counts.get(r.reason, 0) + 1
    return ", ".join(f"{reason}={n}" for reason, n in sorted(counts.items()))


def _json(status: int, payload: Mapping[str, Any],
          headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload),
                        content_type="application/json", headers=headers)


def _error(status: int, error: str, message: str,
           headers: Mapping[str, str] | None = None) -> web.Response:
    return _json(status, {"error": error, "message": message}, headers)


async def _healthz(request: web.Request) -> web.Response:
    """Liveness: the process and its event loop answer."""
    return _json(200, {"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """Readiness: the producer is connected and a metadata fetch works."""
    try:
        await request.app[PRODUCER].ping()
    except KafkaUnavailable as error:
        return _json(503, {"status": "unavailable", "message": str(error)})
    return _json(200, {"status": "ready"})


async def _metrics(request: web.Request) -> web.Response:
    """Prometheus text format (`ops.metrics.GatewayMetrics`)."""
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


async def _start_producer(app: web.Application) -> None:
    await app[PRODUCER].start()


async def _stop_producer(app: web.Application) -> None:
    await app[PRODUCER].stop()


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query string, headers or peer details: method, path, status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %d %.3fs", request.method, request.path, response.status, time)
