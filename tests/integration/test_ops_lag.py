"""`journey-stitcher lag` against the broker's own offsets."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.harness import Deployment
from tests.integration.test_worker_pipeline import traffic

pytestmark = pytest.mark.integration


def lag_command(deployment: Deployment, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "journey_stitcher", "lag", *arguments],
                          env=deployment.env(), capture_output=True, text=True, timeout=60,
                          check=False)


async def broker_lag(bootstrap: str, group: str, topic: str, count: int) -> dict[int, int]:
    """Lag per partition as a member of `group` sees it: end offsets minus its commits."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(count)]
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: ends[tp] - (await consumer.committed(tp) or 0) for tp in partitions}
    finally:
        await consumer.stop()


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def test_lag_matches_the_offsets_the_broker_keeps(endpoints: tuple[str, str]) -> None:
    """A group that committed 30 of partition 0 and nothing of partition 1: the command's lag per
    partition equals end minus committed read with a plain consumer of the group; the age of
    the lagging records is how long ago they were published; --max-lag sets the exit status."""
    deployment = Deployment(*endpoints, partitions=2)
    published_at = time.time()
    await deployment.publish(traffic(events=120, customers=20, seed=51))
    topic, group = deployment.topic("interactions"), f"{deployment.name}-reader"
    await commit(deployment.bootstrap, group, {TopicPartition(topic, 0): 30})
    expected = await broker_lag(deployment.bootstrap, group, topic, deployment.partitions)
    assert expected[0] > 0
    assert expected[1] > 0

    result = lag_command(deployment, "--group", group, "--topic", topic, "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = orjson.loads(result.stdout)
    assert {p["partition"]: p["lag"] for p in report["partitions"]} == expected
    assert report["total_lag"] == sum(expected.values())
    committed = {p["partition"]: p["committed"] for p in report["partitions"]}
    assert committed == {0: 30, 1: None}
    for p in report["partitions"]:
        assert 0 <= p["lag_seconds"] <= time.time() - published_at + 1

    worst = max(expected.values())
    above = lag_command(deployment, "--group", group, "--topic", topic, "--max-lag",
                        str(worst - 1))
    assert above.returncode == 2, above.stderr
    assert f"{topic}  " in above.stdout
    assert lag_command(deployment, "--group", group, "--topic", topic, "--max-lag",
                       str(worst)).returncode == 0
