"""Voice and SMS through Twilio: calls and texts become touchpoints of the caller's phone."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from journey_stitcher.adapters import ADAPTERS, AdapterError, TwilioConfig
from journey_stitcher.adapters.twilio import parse_form, twilio_adapter, twilio_event
from tests.unit.adapters.conftest import RECEIVED, only_event, reasons

SALES = "+390212345600"
SUPPORT = "+390212345699"
LINES = TwilioConfig(lines={SALES: "inform", SUPPORT: "support"})


def call_status(**overrides: str | None) -> dict[str, str]:
    """Giulia's call to the support line has just ended after three minutes."""
    params: dict[str, str | None] = {
        "AccountSid": "AC0000000000000000000000000000abcd",
        "ApiVersion": "2010-04-01",
        "CallSid": "CA5f0e2d8a1b9c4d7e6f5a4b3c2d1e0f9a",
        "CallStatus": "completed",
        "CallbackSource": "call-progress-events",
        "Called": SUPPORT,
        "Caller": "+393471234567",
        "Direction": "inbound",
        "From": "+393471234567",
        "To": SUPPORT,
        "Timestamp": "Mon, 02 Mar 2026 08:41:07 +0000",
        "CallDuration": "184",
        "SequenceNumber": "3",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def incoming_sms(**overrides: str | None) -> dict[str, str]:
    """Giulia texts the support number to ask where her order is."""
    params: dict[str, str | None] = {
        "AccountSid": "AC0000000000000000000000000000abcd",
        "ApiVersion": "2010-04-01",
        "MessageSid": "SM7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
        "SmsSid": "SM7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
        "SmsMessageSid": "SM7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
        "SmsStatus": "received",
        "From": "+393471234567",
        "To": SUPPORT,
        "Body": "Ciao, dov'è il mio ordine SO-2026-00412?",
        "NumMedia": "0",
        "NumSegments": "1",
        "FromCountry": "IT",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def run(params: dict[str, str], config: TwilioConfig = LINES) -> Any:
    return twilio_adapter(config)(urlencode(params).encode(), {}, RECEIVED)


# --- voice ---------------------------------------------------------------------------------------


def test_completed_call_to_the_support_line_is_a_completed_support_touchpoint() -> None:
    """A finished inbound call on the support line is support on the voice channel."""
    event = only_event(run(call_status()))
    assert event == {
        "event_id": "twilio:CA5f0e2d8a1b9c4d7e6f5a4b3c2d1e0f9a:completed",
        "occurred_at": "2026-03-02T08:41:07Z",
        "channel": "voice",
        "touchpoint": "support",
        "identifiers": [{"type": "phone", "value": "+393471234567", "verified": False}],
        "outcome": "completed",
        "session_id": "CA5f0e2d8a1b9c4d7e6f5a4b3c2d1e0f9a",
        "source": "twilio",
        "attributes": {"twilio_kind": "voice", "direction": "inbound",
                       "call_status": "completed", "line": SUPPORT, "duration_seconds": 184},
    }


def test_a_call_to_the_sales_line_informs() -> None:
    """The number the customer dialled tells what the call is about."""
    assert only_event(run(call_status(To=SALES)))["touchpoint"] == "inform"


def test_a_call_to_an_unknown_line_takes_the_default_touchpoint() -> None:
    """A number absent from the line map falls back on the configurable default."""
    assert only_event(run(call_status(To="+390200000000")))["touchpoint"] == "support"
    config = TwilioConfig(default_touchpoint="inform")
    assert only_event(run(call_status(To="+390200000000"), config))["touchpoint"] == "inform"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("queued", "started"),
        ("ringing", "started"),
        ("in-progress", "started"),
        ("completed", "completed"),
        ("busy", "failed"),
        ("failed", "failed"),
        ("no-answer", "failed"),
        ("canceled", "abandoned"),
    ],
)
def test_call_status_becomes_the_outcome(status: str, outcome: str) -> None:
    """Busy, failed and unanswered calls failed; a call hung up before answer was abandoned."""
    event = only_event(run(call_status(CallStatus=status, CallDuration=None)))
    assert event["outcome"] == outcome
    assert event["event_id"].endswith(f":{status}")


def test_every_status_of_one_call_is_its_own_event_in_one_session() -> None:
    """Ringing and completed are two events of the same call; a retried callback is the same."""
    ringing = only_event(run(call_status(CallStatus="ringing", CallDuration=None)))
    done = only_event(run(call_status()))
    retried = only_event(run(call_status()))
    assert ringing["event_id"] != done["event_id"] == retried["event_id"]
    assert ringing["session_id"] == done["session_id"]


def test_on_an_outbound_call_the_customer_is_the_called_party() -> None:
    """When the company calls Giulia back, her number is the To, not the From."""
    event = only_event(run(call_status(Direction="outbound-api", From=SUPPORT,
                                       To="+393471234567")))
    assert event["identifiers"] == [{"type": "phone", "value": "+393471234567",
                                     "verified": False}]
    assert event["attributes"]["line"] == SUPPORT
    assert event["touchpoint"] == "support"


def test_a_company_line_is_never_taken_for_the_customer() -> None:
    """A leg whose direction says otherwise still picks the party that is not a company line."""
    event = only_event(run(call_status(Direction="outbound-dial", From="+393471234567",
                                       To=SALES)))
    assert event["identifiers"][0]["value"] == "+393471234567"
    assert event["touchpoint"] == "inform"


@pytest.mark.parametrize("caller", ["+266696687", "+7378742833", "+86282452253", "Anonymous"])
def test_a_withheld_caller_id_is_no_identity(caller: str) -> None:
    """Twilio's placeholders for a hidden number identify nobody: rejected, naming From."""
    result = run(call_status(From=caller))
    assert reasons(result.rejected) == ["no_identity"]
    assert result.rejected[0].field == "From"
    assert result.rejected[0].item_id == "CA5f0e2d8a1b9c4d7e6f5a4b3c2d1e0f9a"


def test_a_browser_client_party_is_not_a_phone_number() -> None:
    """A call from an agent's Twilio Client identity carries no customer phone."""
    result = run(call_status(From="client:agent-laura"))
    assert reasons(result.rejected) == ["no_identity"]
    assert "client" in result.rejected[0].message


def test_a_callback_without_timestamp_happened_when_it_was_received() -> None:
    """The incoming-call webhook has no Timestamp: the gateway's receipt time stands in."""
    event = only_event(run(call_status(Timestamp=None, CallStatus="ringing",
                                       CallDuration=None)))
    assert event["occurred_at"] == "2026-03-02T09:15:00Z"


def test_a_malformed_timestamp_is_rejected() -> None:
    """A Timestamp that is not RFC 2822 is reported, not replaced."""
    result = run(call_status(Timestamp="2026-03-02 08:41"))
    assert reasons(result.rejected) == ["invalid_timestamp"]
    assert result.rejected[0].field == "Timestamp"


def test_an_unknown_call_status_is_rejected() -> None:
    """A CallStatus Twilio does not define is named in the rejection."""
    result = run(call_status(CallStatus="exploded"))
    assert reasons(result.rejected) == ["invalid_field"]
    assert "'exploded'" in result.rejected[0].message


def test_a_non_numeric_duration_is_rejected() -> None:
    """CallDuration is seconds; anything else is a broken callback."""
    assert reasons(run(call_status(CallDuration="3m")).rejected) == ["invalid_field"]


def test_a_call_without_status_is_rejected() -> None:
    """Without a CallStatus nothing tells what happened to the call."""
    result = run(call_status(CallStatus=None))
    assert reasons(result.rejected) == ["missing_field"]
    assert result.rejected[0].field == "CallStatus"


# --- messages ------------------------------------------------------------------------------------


def test_an_incoming_text_is_an_sms_touchpoint_without_its_body() -> None:
    """A text to the support line is support over SMS; the message text stays out of the event."""
    event = only_event(run(incoming_sms()))
    assert event == {
        "event_id": "twilio:SM7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
        "occurred_at": "2026-03-02T09:15:00Z",
        "channel": "sms",
        "touchpoint": "support",
        "identifiers": [{"type": "phone", "value": "+393471234567", "verified": False}],
        "session_id": "SM7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
        "source": "twilio",
        "attributes": {"twilio_kind": "sms", "line": SUPPORT, "num_media": 0,
                       "num_segments": 1},
    }


@pytest.mark.parametrize(("keyword", "touchpoint"),
                         [("STOP", "feedback"), ("START", "feedback"), ("HELP", "support")])
def test_opt_out_keywords_are_feedback_or_a_call_for_help(keyword: str, touchpoint: str) -> None:
    """STOP and START tell how the customer feels about messages; HELP asks for support."""
    event = only_event(run(incoming_sms(Body=keyword, OptOutType=keyword, To=SALES)))
    assert event["touchpoint"] == touchpoint
    assert event["attributes"]["opt_out_type"] == keyword


def test_a_status_callback_of_an_outbound_text_is_skipped() -> None:
    """Sent and delivered reports are about the company's message, not a customer action."""
    result = run(incoming_sms(SmsStatus=None, MessageStatus="delivered", From=SUPPORT,
                              To="+393471234567"))
    assert result.events == []
    assert result.rejected == []
    assert reasons(result.skipped) == ["delivery_status"]


def test_whatsapp_messages_are_chat_from_the_same_phone() -> None:
    """A WhatsApp message through Twilio is a chat from the number behind `whatsapp:`."""
    event = only_event(run(incoming_sms(From="whatsapp:+393471234567",
                                        To=f"whatsapp:{SALES}")))
    assert event["channel"] == "chat"
    assert event["touchpoint"] == "inform"
    assert event["identifiers"][0]["value"] == "+393471234567"


def test_legacy_sms_sid_alone_is_enough() -> None:
    """An old-style webhook with SmsSid and no MessageSid still converts."""
    event = only_event(run(incoming_sms(MessageSid=None)))
    assert event["event_id"] == "twilio:SM7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"


# --- the body ------------------------------------------------------------------------------------


def test_the_registry_reads_the_raw_form_body() -> None:
    """The gateway passes the form bytes as Twilio posts them, `+` percent-encoded."""
    body = (b"CallSid=CA1&CallStatus=busy&Direction=inbound&From=%2B393471234567"
            b"&To=%2B390212345699")
    event = only_event(ADAPTERS["twilio"](body, {}, RECEIVED))
    assert event["identifiers"][0]["value"] == "+393471234567"
    assert event["outcome"] == "failed"


def test_a_webhook_that_is_neither_call_nor_message_is_rejected() -> None:
    """A form without CallSid or MessageSid is not a Twilio voice or messaging webhook."""
    result = run({"From": "+393471234567", "To": SUPPORT})
    assert reasons(result.rejected) == ["missing_field"]


def test_a_body_that_is_not_utf8_is_rejected() -> None:
    """Bytes that are not UTF-8 are rejected as a whole, with the encoding named."""
    result = ADAPTERS["twilio"](b"From=\xff\xfe", {}, RECEIVED)
    assert reasons(result.rejected) == ["invalid_encoding"]


def test_a_body_that_is_not_a_form_is_rejected() -> None:
    """JSON posted to the Twilio endpoint is not a form."""
    result = ADAPTERS["twilio"](b'{"CallSid": "CA1"}', {}, RECEIVED)
    assert reasons(result.rejected) == ["invalid_payload"]


def test_parse_form_decodes_percent_escapes() -> None:
    """Form values come back decoded, blank values kept, a stray `&` tolerated."""
    assert parse_form(b"Body=Ciao%21+a+presto&Empty=&") == {"Body": "Ciao! a presto",
                                                            "Empty": ""}


def test_twilio_event_accepts_a_dict_of_params() -> None:
    """The pure function takes the parameters a web framework already parsed."""
    event = twilio_event(call_status(), received_at=RECEIVED, config=LINES)
    assert event["touchpoint"] == "support"
    with pytest.raises(AdapterError) as caught:
        twilio_event(call_status(From="+266696687"), received_at=RECEIVED)
    assert caught.value.reason == "no_identity"
