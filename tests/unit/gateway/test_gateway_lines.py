"""The deployment's phone lines reach the Twilio adapter the gateway and `publish` use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from journey_stitcher.gateway.main import adapters_for
from journey_stitcher.settings import Settings

CALL = (b"CallSid=CA9&CallStatus=completed&Direction=inbound&From=%2B393471234567"
        b"&To=%2B390212345600")


def test_a_call_to_the_configured_sales_line_is_an_inform_touchpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With JOURNEY_STITCHER_TWILIO_LINES naming the sales line, its calls inform."""
    monkeypatch.setenv("JOURNEY_STITCHER_TWILIO_LINES", '{"+390212345600": "inform"}')
    result = adapters_for(Settings())["twilio"](CALL, {}, datetime(2026, 3, 2, tzinfo=UTC))
    assert [e["touchpoint"] for e in result.events] == ["inform"]


def test_other_numbers_take_the_default_touchpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A number absent from the lines takes JOURNEY_STITCHER_TWILIO_DEFAULT_TOUCHPOINT."""
    monkeypatch.delenv("JOURNEY_STITCHER_TWILIO_LINES", raising=False)
    monkeypatch.setenv("JOURNEY_STITCHER_TWILIO_DEFAULT_TOUCHPOINT", "complaint")
    result = adapters_for(Settings())["twilio"](CALL, {}, datetime(2026, 3, 2, tzinfo=UTC))
    assert [e["touchpoint"] for e in result.events] == ["complaint"]
