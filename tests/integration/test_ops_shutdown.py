"""SIGTERM drains: a worker stopped mid-run and restarted emits every output exactly once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.harness import Deployment, Worker, read_topics, replay_outputs
from tests.integration.test_worker_pipeline import OUTPUTS, traffic

pytestmark = pytest.mark.integration

GRACE_SECONDS = 60  # terminationGracePeriodSeconds of deploy/k8s


async def test_sigterm_mid_run_loses_nothing_and_repeats_nothing(
    endpoints: tuple[str, str], tmp_path: Path
) -> None:
    """On four partitions, in small batches, SIGTERM arrives while the worker is busy: it exits 0
    well within the grace period, and after a restart every output of replay arrives, none
    twice (a SIGKILL, by contrast, repeats the outputs of the interrupted batches)."""
    deployment = Deployment(*endpoints, partitions=4)
    lines = traffic(events=2000, customers=200, seed=61)
    expected = {event["id"] for event in replay_outputs(lines)}
    await deployment.publish(lines)
    topics = [deployment.topic(t) for t in OUTPUTS]
    log = tmp_path / "worker.log"

    first = Worker(deployment, log, JOURNEY_STITCHER_BATCH_SIZE="50")
    await read_topics(deployment.bootstrap, topics, at_least=len(expected) * 2 // 5, timeout=120)
    signalled = time.monotonic()
    assert first.stop(timeout=GRACE_SECONDS) == 0, log.read_text()[-3000:]
    assert time.monotonic() - signalled < GRACE_SECONDS / 2
    so_far = await read_topics(deployment.bootstrap, topics, at_least=0, timeout=30, settle=0.5)
    assert len(so_far) < len(expected), "the worker finished before SIGTERM"

    second = Worker(deployment, log)
    try:
        records = await read_topics(deployment.bootstrap, topics, at_least=len(expected),
                                    timeout=120, settle=1.0)
    finally:
        assert second.stop() == 0, log.read_text()[-3000:]
    ids = Counter(record.event["id"] for record in records)
    assert [i for i, n in ids.items() if n > 1] == []
    assert set(ids) == expected
