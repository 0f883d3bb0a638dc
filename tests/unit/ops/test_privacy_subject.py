"""IDENTIFIER of `show` and `erase`: read exactly as the identity stage reads an identifier."""

from __future__ import annotations

import pytest

from journey_stitcher.config import load_config
from journey_stitcher.interactions.model import Identifier
from journey_stitcher.ops.subject import InvalidIdentifier, Subject, parse_subject
from journey_stitcher.stitcher import normalizer_for

CONFIG = load_config(None)
PEPPER = b"unit-pepper"
NORMALIZER = normalizer_for(CONFIG, PEPPER)


def parse(text: str) -> Subject:
    return parse_subject(text, CONFIG.catalog, NORMALIZER, hashing=True)


def stage_key(kind: str, value: str) -> str:
    """The identity-graph key the identity stage writes for this identifier of an event."""
    usable, _ = NORMALIZER.resolve((Identifier(kind, value, verified=True),))
    return usable[0].key


def test_an_email_finds_the_key_the_identity_stage_wrote_whatever_its_case_and_spaces() -> None:
    """`email: Ann@Example.COM ` is the same identifier as `ann@example.com`."""
    assert parse("email: Ann@Example.COM ").key == stage_key("email", "ann@example.com")


@pytest.mark.parametrize("written", ["+39 333 123 4567", "+39-333-1234567", "+393331234567",
                                     "+39 (333) 123.4567"])
def test_a_phone_is_normalized_to_e164_before_hashing(written: str) -> None:
    """Every way of writing the number reaches the key of its E.164 form."""
    assert parse(f"phone:{written}").key == stage_key("phone", "+393331234567")


def test_a_value_with_colons_keeps_them() -> None:
    """Only the first colon separates the type: a cookie value may hold colons too."""
    assert parse("cookie_id:GA1.2:abc:def").key == stage_key("cookie_id", "GA1.2:abc:def")


def test_the_key_is_hashed_with_the_pepper() -> None:
    """Another pepper, another key: the raw value is never the key."""
    other = parse_subject("email:ann@example.com", CONFIG.catalog,
                          normalizer_for(CONFIG, b"another-pepper"), hashing=True)
    assert other.key != parse("email:ann@example.com").key
    assert "ann@example.com" not in (parse("email:ann@example.com").key or "")


def test_an_owned_reference_is_looked_up_as_given() -> None:
    """Order numbers are business references, owned by the profile that first used them."""
    subject = parse("order_id:A-1")
    assert subject == Subject("order_id:***", key="ref:order_id:A-1")


def test_a_customer_id_is_used_directly() -> None:
    """`cus_…` needs no lookup."""
    assert parse(" cus_86add553379b216309dbb568 ") == Subject(
        "cus_86add553379b216309dbb568", customer_id="cus_86add553379b216309dbb568")


def test_the_label_never_shows_the_raw_value() -> None:
    """The label is the type and the start of the hash; with hashing off, `***`."""
    label = parse("email:ann@example.com").label
    assert label.startswith("email:")
    assert "ann" not in label
    plain = parse_subject("email:ann@example.com", CONFIG.catalog, normalizer_for(CONFIG, None),
                          hashing=False)
    assert plain.label == "email:***"
    assert plain.key == "email:ann@example.com"  # hashing off: stored as given, as the worker does


@pytest.mark.parametrize(("text", "message"), [
    ("shoe_size:42", "unknown identifier type 'shoe_size'"),
    ("ann@example.com", "neither TYPE:VALUE nor a customer id"),
    ("", "neither TYPE:VALUE nor a customer id"),
    ("product_id:BIKE", "product_id belongs to nobody"),
    ("email:null", "blocked or unusable"),
    ("email:not-an-email", "blocked or unusable"),
    ("phone:0000000000", "blocked or unusable"),
    ("order_id:", "the value is empty or blocked"),
    ("order_id:null", "the value is empty or blocked"),
    ("cart_id:None", "the value is empty or blocked"),
    ("order_id: 0 ", "the value is empty or blocked"),
])
def test_what_names_nobody_is_refused_with_a_reason(text: str, message: str) -> None:
    """Malformed, unknown, blocked or ownerless identifiers: a message, no raw value in it."""
    with pytest.raises(InvalidIdentifier, match=message) as refused:
        parse(text)
    assert "ann@example.com" not in str(refused.value)
