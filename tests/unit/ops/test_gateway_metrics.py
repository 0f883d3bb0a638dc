"""The gateway's /metrics: requests by adapter and status, events by adapter."""

from __future__ import annotations

import orjson

from journey_stitcher.gateway.app import METRICS
from tests.unit.gateway.conftest import INGEST_SECRET, MemoryProducer, courier_scan, gateway
from tests.unit.ops.promtool import check_metrics


def series(page: str, name: str) -> dict[str, float]:
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in page.splitlines()
            if line.startswith(name)}


async def test_webhooks_are_counted_by_adapter_and_answer() -> None:
    """Two accepted courier posts, one with a wrong secret, one to a path of no adapter and one
    during a Kafka outage: each answer is counted under its adapter and status, the published
    events under their adapter, and a made-up adapter name is not a label value."""
    producer = MemoryProducer()
    async with gateway(producer=producer) as (client, _):
        secret = {"X-Ingest-Secret": INGEST_SECRET}
        for _ in range(2):
            await client.post("/v1/ingest/canonical", data=orjson.dumps(courier_scan()),
                              headers=secret)
        await client.post("/v1/ingest/canonical", data=orjson.dumps(courier_scan()),
                          headers={"X-Ingest-Secret": "wrong"})
        await client.post("/v1/ingest/fax-machine", data=b"{}")
        producer.unavailable = True
        await client.post("/v1/ingest/canonical", data=orjson.dumps(courier_scan()),
                          headers=secret)
        response = await client.get("/metrics")
        page = await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        check_metrics(client.app[METRICS].render())
    requests = series(page, "journey_stitcher_gateway_requests_total")
    assert requests == {
        'journey_stitcher_gateway_requests_total{adapter="canonical",status="202"}': 2.0,
        'journey_stitcher_gateway_requests_total{adapter="canonical",status="401"}': 1.0,
        'journey_stitcher_gateway_requests_total{adapter="unknown",status="404"}': 1.0,
        'journey_stitcher_gateway_requests_total{adapter="canonical",status="503"}': 1.0,
    }
    assert series(page, "journey_stitcher_gateway_events_total") == {
        'journey_stitcher_gateway_events_total{adapter="canonical"}': 2.0}
