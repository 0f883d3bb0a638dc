"""Fixtures that build realistic interactions and run them through the stitching core."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import orjson
import pytest

from journey_stitcher.config import StitcherConfig, load_config
from journey_stitcher.errors import InvalidInput
from journey_stitcher.stitcher import Stitcher

PEPPER = b"unit-test-pepper"
Event = dict[str, Any]


class Story:
    """A customer story told event by event through one in-memory stitcher."""

    def __init__(self, config: StitcherConfig, pepper: bytes | None = PEPPER) -> None:
        self.stitcher = Stitcher(config, pepper)
        self.sent: list[Event] = []
        self.outputs: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def event(
        self, channel: str, touchpoint: str, at: str, *,
        ids: list[tuple[str, str]] | None = None, verified: list[tuple[str, str]] | None = None,
        refs: dict[str, str] | None = None, device: str | None = None,
        outcome: str | None = None, event_id: str | None = None, consent: bool | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Event:
        """An interaction event as an adapter would publish it."""
        identifiers = [{"type": t, "value": v} for t, v in ids or []]
        identifiers += [{"type": t, "value": v, "verified": True} for t, v in verified or []]
        event: Event = {
            "event_id": event_id or f"evt-{next(self._ids):04d}",
            "occurred_at": at,
            "channel": channel,
            "touchpoint": touchpoint,
            "identifiers": identifiers,
        }
        if refs:
            event["refs"] = refs
        if device:
            event["device"] = {"id": device, "type": "smartphone"}
        if attributes is not None:
            event["attributes"] = attributes
        if outcome:
            event["outcome"] = outcome
        if consent is not None:
            event["consent"] = {"stitching": consent}
        return event

    def send(self, event: Event) -> list[dict[str, Any]]:
        """Process one event; its outputs."""
        self.sent.append(event)
        emitted = self.stitcher.process_line(orjson.dumps(event))
        self.outputs += emitted
        return emitted

    def tell(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Build and process one event; its outputs."""
        return self.send(self.event(*args, **kwargs))

    def rejects(self, event: Event) -> InvalidInput:
        """Process an event that must be rejected; the rejection."""
        with pytest.raises(InvalidInput) as caught:
            self.send(event)
        return caught.value

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.outputs if e["type"] == event_type]


def types(outputs: list[dict[str, Any]]) -> list[str]:
    """The CloudEvent types of `outputs`, in order."""
    return [event["type"] for event in outputs]


@pytest.fixture(scope="session")
def config() -> StitcherConfig:
    """The default configuration: the catalog of SPEC §4."""
    return load_config(None)


@pytest.fixture
def story(config: StitcherConfig) -> Story:
    """A fresh in-memory stitcher with hashing on."""
    return Story(config)


@pytest.fixture
def flagging_story(config: StitcherConfig) -> Story:
    """A stitcher configured to flag, not reject, unsupported touchpoints."""
    return Story(dataclasses.replace(config, capability_check="flag"))
