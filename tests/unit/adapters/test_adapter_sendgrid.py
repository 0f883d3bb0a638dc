"""E-mail through SendGrid: engagement becomes touchpoints of the recipient, reports do not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from journey_stitcher.adapters import ADAPTERS, SendGridConfig, Touch
from journey_stitcher.adapters.sendgrid import sendgrid_adapter
from tests.unit.adapters.conftest import RECEIVED, accepted, only_event, reasons

MESSAGE = "Xk3-q9VnTt2u8aB1c4D5eA.recvd-7c9f-1-65E2F0A1-3.0"


def engagement(event: str = "open", **overrides: Any) -> dict[str, Any]:
    """Giulia opens (or clicks in) the e-mail announcing the spring coffee offer."""
    item: dict[str, Any] = {
        "email": "giulia.rossi@example.it",
        "timestamp": 1772441700,
        "event": event,
        "sg_event_id": f"ZXZ0LTEyMzQ1Njc4OS0{event}",
        "sg_message_id": MESSAGE,
        "smtp-id": "<Xk3-q9VnTt2u8aB1c4D5eA@geopod-ismtpd-3>",
        "category": ["promo", "spring-2026"],
        "useragent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X)",
        "ip": "93.40.12.8",
    }
    if event == "click":
        item["url"] = "https://shop.example.it/p/espresso-ek-42?utm_source=email&uid=CRM-000731"
        item["url_offset"] = {"index": 0, "type": "html"}
    item.update(overrides)
    return item


def run(body: Any, config: SendGridConfig | None = None) -> Any:
    adapter = sendgrid_adapter(config) if config else ADAPTERS["sendgrid"]
    return adapter(orjson.dumps(body), {}, RECEIVED)


def test_an_open_informs_the_verified_recipient() -> None:
    """Opening the e-mail is an `inform` touchpoint of the address it was delivered to."""
    event = only_event(run([engagement()]))
    assert event == {
        "event_id": "sendgrid:ZXZ0LTEyMzQ1Njc4OS0open",
        "occurred_at": "2026-03-02T08:55:00Z",
        "channel": "email",
        "touchpoint": "inform",
        "identifiers": [{"type": "email", "value": "giulia.rossi@example.it", "verified": True}],
        "session_id": MESSAGE,
        "source": "sendgrid",
        "attributes": {"sendgrid_event": "open", "categories": ["promo", "spring-2026"]},
    }


def test_a_click_informs_and_keeps_the_link_without_its_query() -> None:
    """The clicked link is kept for context, stripped of tracking tokens and personal data."""
    event = only_event(run([engagement("click")]))
    assert event["touchpoint"] == "inform"
    assert event["attributes"]["url"] == "https://shop.example.it/p/espresso-ek-42"
    assert "CRM-000731" not in orjson.dumps(event).decode()


def test_open_and_click_of_one_email_share_a_session() -> None:
    """Events of the same message are one e-mail session."""
    result = run([engagement(), engagement("click")])
    assert len({e["session_id"] for e in result.events}) == 1


@pytest.mark.parametrize("name", ["unsubscribe", "group_unsubscribe", "group_resubscribe",
                                  "spamreport"])
def test_subscription_choices_and_spam_reports_are_feedback(name: str) -> None:
    """Unsubscribing, resubscribing or reporting spam tells the company what the customer thinks."""
    assert only_event(run([engagement(name, asm_group_id=12)]))["touchpoint"] == "feedback"


@pytest.mark.parametrize("name", ["processed", "deferred", "delivered", "bounce", "dropped"])
def test_delivery_reports_are_skipped(name: str) -> None:
    """Processed, delivered, bounced... report on the company's message, not a customer action."""
    result = run([engagement(name, response="250 OK", reason="550 unknown user")])
    assert result.events == []
    assert result.rejected == []
    assert reasons(result.skipped) == ["not_a_touchpoint"]
    assert result.skipped[0].item_id == f"ZXZ0LTEyMzQ1Njc4OS0{name}"


def test_a_capitalised_event_name_is_the_same_event() -> None:
    """`Open` and `open` are the same event."""
    assert only_event(run([engagement("Open")]))["attributes"]["sendgrid_event"] == "open"


@pytest.mark.parametrize(
    ("timestamp", "occurred_at"),
    [
        ("1772441700", "2026-03-02T08:55:00Z"),
        (1772441700123, "2026-03-02T08:55:00.123Z"),
        ("1772441700123", "2026-03-02T08:55:00.123Z"),
        (1772441700.5, "2026-03-02T08:55:00.500Z"),
    ],
)
def test_string_and_millisecond_timestamps_are_read(timestamp: Any, occurred_at: str) -> None:
    """Timestamps in seconds or milliseconds, as numbers or strings, give the same instant."""
    assert only_event(run([engagement(timestamp=timestamp)]))["occurred_at"] == occurred_at


@pytest.mark.parametrize(("category", "categories"),
                         [("promo", ["promo"]), (["promo", "it"], ["promo", "it"]), ([], None)])
def test_category_string_or_array_becomes_a_list(category: Any, categories: Any) -> None:
    """A category sent as a string or an array is carried as a list of names."""
    event = only_event(run([engagement(category=category)]))
    assert event["attributes"].get("categories") == categories


def test_a_legacy_event_without_id_gets_a_stable_id_from_its_content() -> None:
    """Without sg_event_id, the same object (whatever its key order) gets the same id."""
    item = engagement(sg_event_id=None)
    del item["sg_event_id"]
    reordered = dict(reversed(list(item.items())))
    first = only_event(run([item]))["event_id"]
    assert first.startswith("sendgrid:h:")
    assert only_event(run([reordered]))["event_id"] == first
    assert only_event(run([{**item, "timestamp": 1772441701}]))["event_id"] != first


def test_opens_by_privacy_proxies_are_skipped() -> None:
    """Apple Mail Privacy Protection fetches every pixel: such opens are not the customer."""
    result = run([engagement(sg_machine_open=True)])
    assert reasons(result.skipped) == ["machine_open"]
    human = only_event(run([engagement(sg_machine_open=False)]))
    assert human["touchpoint"] == "inform"
    kept = run([engagement(sg_machine_open=True)], SendGridConfig(skip_machine_opens=False))
    assert len(kept.events) == 1


def test_custom_arguments_carry_the_order_and_the_customer() -> None:
    """An order e-mail sent with order_id and customer_id arguments links to both."""
    event = only_event(run([engagement("click", order_id="SO-2026-00412",
                                       customer_id="CRM-000731")]))
    assert event["refs"] == {"order_id": "SO-2026-00412"}
    assert event["identifiers"][0] == {"type": "customer_id", "value": "CRM-000731",
                                       "verified": True}


def test_the_touchpoints_are_configurable() -> None:
    """A company can call a click `discover` and count deliveries as touchpoints."""
    config = SendGridConfig(events={"click": Touch("discover"),
                                    "delivered": Touch("inform", "completed")})
    result = run([engagement("click"), engagement("delivered"), engagement("open")], config)
    assert [(e["touchpoint"], e.get("outcome")) for e in result.events] == [
        ("discover", None), ("inform", "completed")]
    assert reasons(result.skipped) == ["unmapped_event"]


def test_a_bare_object_is_a_batch_of_one() -> None:
    """Some documented examples post one event object instead of an array."""
    assert only_event(run(engagement()))["touchpoint"] == "inform"


def test_one_bad_event_does_not_sink_the_batch() -> None:
    """Each event of a post gets its own verdict, with its position in the array."""
    no_email = engagement(sg_event_id="e-2")
    del no_email["email"]
    body = [engagement(), no_email, engagement(timestamp="yesterday", sg_event_id="e-3"),
            "open", engagement("delivered"), engagement("click")]
    result = run(body)
    assert [e["attributes"]["sendgrid_event"] for e in result.events] == ["open", "click"]
    assert [(r.index, r.reason, r.field) for r in result.rejected] == [
        (1, "no_identity", "email"), (2, "invalid_timestamp", "timestamp"),
        (3, "invalid_payload", None)]
    assert [(s.index, s.reason) for s in result.skipped] == [(4, "not_a_touchpoint")]
    for event in result.events:
        accepted(event)


def test_two_different_events_under_one_id_are_not_both_kept() -> None:
    """A batch reusing an sg_event_id for another event keeps the first and rejects the other."""
    result = run([engagement("open", sg_event_id="dup"), engagement("click", sg_event_id="dup")])
    assert len(result.events) == 1
    assert reasons(result.rejected) == ["duplicate_event_id"]
    assert "item 0" in result.rejected[0].message


def test_an_event_repeated_verbatim_is_emitted_once() -> None:
    """The same event twice in a post is one touchpoint."""
    result = run([engagement(), engagement()])
    assert len(result.events) == 1
    assert reasons(result.skipped) == ["duplicate_item"]


def test_an_unknown_event_is_skipped_not_rejected() -> None:
    """SendGrid adds event types over time; an unknown one is counted, not dead-lettered."""
    result = run([engagement("account_status_change")])
    assert reasons(result.skipped) == ["unmapped_event"]


def test_an_event_without_name_is_rejected() -> None:
    """An object without `event` says nothing about what happened."""
    result = run([engagement(event=None)])
    assert reasons(result.rejected) == ["missing_field"]
    assert result.rejected[0].field == "event"


def test_a_body_that_is_not_json_is_rejected_as_a_whole() -> None:
    """A truncated post is one rejection for the whole body."""
    result = ADAPTERS["sendgrid"](b'[{"email": "giulia', {}, RECEIVED)
    assert reasons(result.rejected) == ["invalid_json"]
    assert result.rejected[0].index is None
