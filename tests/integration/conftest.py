"""Integration fixtures: the real Kafka broker and Redis, started by the project itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from journey_stitcher.testing.services import service_endpoints
from tests.integration.harness import Deployment


@pytest.fixture(scope="session")
def endpoints() -> tuple[str, str]:
    """(Kafka bootstrap servers, Redis URL): environment, testcontainers or the local stack."""
    return service_endpoints()


@pytest.fixture
def deployment(endpoints: tuple[str, str]) -> Deployment:
    """A fresh isolated installation with one partition per topic."""
    return Deployment(*endpoints)


@pytest.fixture
async def redis(endpoints: tuple[str, str]) -> AsyncIterator[Redis]:
    """A client of the real Redis."""
    client = Redis.from_url(endpoints[1])
    yield client
    await client.aclose()
