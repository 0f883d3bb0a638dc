"""Identity resolution, rule by rule (SPEC §6)."""

from __future__ import annotations

import orjson

from tests.unit.core.conftest import PEPPER, Story, types


def subjects(outputs: list[dict[str, object]]) -> set[object]:
    return {event["subject"] for event in outputs}


def test_unknown_identifiers_create_a_customer(story: Story) -> None:
    """An event whose identifiers nobody owns opens a new customer profile."""
    out = story.tell("web", "inform", "2026-03-01T10:00:00Z", ids=[("cookie_id", "ck-1")])
    assert types(out) == ["journey.started"]
    assert out[0]["subject"].startswith("cus_")


def test_email_is_trimmed_and_lower_cased(story: Story) -> None:
    """The same e-mail typed with spaces and capitals reaches the same customer."""
    a = story.tell("email", "inform", "2026-03-01T10:00:00Z", ids=[("email", "Anna@Example.com")])
    b = story.tell("web", "compare", "2026-03-01T11:00:00Z", ids=[("email", "  anna@example.COM ")])
    assert a[0]["subject"] == b[0]["subject"]
    assert types(b) == ["journey.continued", "journey.handoff"]


def test_phone_formats_normalize_to_one_e164_number(story: Story) -> None:
    """A phone written with spaces, dashes or a national prefix is one E.164 number."""
    a = story.tell("voice", "inform", "2026-03-01T10:00:00Z", ids=[("phone", "+39 347 123 4567")])
    b = story.tell("sms", "inform", "2026-03-01T10:05:00Z", ids=[("phone", "+39-347-1234567")])
    c = story.tell("sms", "compare", "2026-03-01T10:06:00Z", ids=[("phone", "+39 (347) 123-45-67")])
    assert subjects(a) == subjects(b) == subjects(c)


def test_blocked_values_are_ignored(story: Story) -> None:
    """Placeholders like `null`, `unknown` or 0000000000 never identify anyone."""
    first = story.tell("web", "inform", "2026-03-01T10:00:00Z",
                       ids=[("email", "null"), ("phone", "0000000000"), ("cookie_id", "c-1")])
    second = story.tell("web", "inform", "2026-03-01T10:01:00Z",
                        ids=[("email", "null"), ("phone", "0000000000"), ("cookie_id", "c-2")])
    assert subjects(first) != subjects(second)
    assert story.stitcher.dropped_identifiers == 4


def test_an_event_with_only_blocked_identifiers_is_rejected_no_identity(story: Story) -> None:
    """Without a usable identifier or an owned reference, the event has no identity; the
    placeholders it carried are counted as dropped all the same (§4: ignored, counted)."""
    rejection = story.rejects(story.event("web", "inform", "2026-03-01T10:00:00Z",
                                          ids=[("email", "undefined"), ("cookie_id", "anonymous")]))
    assert rejection.reason == "no_identity"
    assert story.stitcher.dropped_identifiers == 2


def test_a_real_number_with_a_national_leading_zero_is_not_a_placeholder(story: Story) -> None:
    """Rome's 06 6666 6666 is a phone, not one repeated digit: Italy keeps the leading 0 in
    the national number. +39 333 333 3333 (all 3s) is a placeholder."""
    rome = story.tell("voice", "support", "2026-03-01T10:00:00Z", verified=[("phone", "+39 06 6666 6666")])
    again = story.tell("sms", "support", "2026-03-01T10:05:00Z", verified=[("phone", "+390666666666")])
    assert subjects(rome) == subjects(again)
    assert story.stitcher.dropped_identifiers == 0
    rejection = story.rejects(story.event("voice", "support", "2026-03-01T10:10:00Z",
                                          ids=[("phone", "+39 333 333 3333")]))
    assert rejection.reason == "no_identity"


def test_courier_scan_with_only_an_order_number_reaches_the_buyer(story: Story) -> None:
    """The courier only knows the order number: the delivery joins the buyer's journey."""
    bought = story.tell("web", "purchase", "2026-03-01T10:00:00Z", outcome="completed",
                        verified=[("customer_id", "C-1")], refs={"order_id": "O-77"})
    delivered = story.tell("courier", "delivery", "2026-03-03T09:00:00Z", refs={"order_id": "O-77"})
    assert subjects(delivered) == subjects(bought)
    assert delivered[0]["data"]["journey_id"] == bought[0]["data"]["journey_id"]


def test_a_new_identifier_is_linked_to_the_customer_it_arrives_with(story: Story) -> None:
    """A phone first seen next to a known e-mail belongs to that customer afterwards."""
    a = story.tell("web", "inform", "2026-03-01T10:00:00Z", verified=[("email", "a@x.com")])
    story.tell("web", "compare", "2026-03-01T10:10:00Z",
               verified=[("email", "a@x.com")], ids=[("phone", "+393471111111")])
    c = story.tell("voice", "compare", "2026-03-01T11:00:00Z", ids=[("phone", "+393471111111")])
    assert subjects(c) == subjects(a)


def test_an_unverified_email_never_merges_two_known_customers(story: Story) -> None:
    """A typed-in e-mail pointing at another known customer is a conflict, not a merge."""
    anna = story.tell("web", "inform", "2026-03-01T10:00:00Z", verified=[("customer_id", "C-A")],
                      ids=[("email", "shared@x.com")])
    bruno = story.tell("app", "inform", "2026-03-01T10:05:00Z", verified=[("customer_id", "C-B")])
    out = story.tell("app", "compare", "2026-03-01T10:10:00Z",
                     verified=[("customer_id", "C-B")], ids=[("email", "shared@x.com")])
    assert "identity.merged" not in types(out)
    conflict = out[0]
    assert conflict["type"] == "identity.conflict"
    assert conflict["data"]["reason"] == "unverified_link"
    assert conflict["data"]["identifier_type"] == "email"
    assert set(conflict["data"]["customer_ids"]) == subjects(anna) | subjects(bruno)
    assert out[1]["subject"] == bruno[0]["subject"]


def test_a_typed_in_email_never_merges_a_browser_into_a_known_customer(story: Story) -> None:
    """§6.7: someone on an anonymous browser types in Kim's e-mail and confirms a new phone by
    code. The e-mail finds Kim but is not verified, so Kim does not absorb the browser's
    profile; the event still goes to Kim (its best identifier) and the new phone with it."""
    kim = story.tell("web", "inform", "2026-03-01T10:00:00Z",
                     verified=[("email", "kim@x.com"), ("customer_id", "KIM-1")])
    browser = story.tell("web", "compare", "2026-03-01T10:01:00Z", ids=[("cookie_id", "ck-z")])
    out = story.tell("web", "compare", "2026-03-01T10:02:00Z",
                     ids=[("email", "kim@x.com"), ("cookie_id", "ck-z")],
                     verified=[("phone", "+39 347 765 4321")])
    assert "identity.merged" not in types(out)
    assert out[0]["type"] == "identity.conflict"
    assert out[0]["data"]["reason"] == "unverified_link"
    assert out[0]["data"]["identifier_type"] == "email"
    assert set(out[0]["data"]["customer_ids"]) == subjects(kim) | subjects(browser)
    assert {e["subject"] for e in out} == subjects(kim)
    later = story.tell("sms", "support", "2026-03-01T10:30:00Z",
                       verified=[("phone", "+39 347 765 4321")])
    assert subjects(later) == subjects(kim)
    again = story.tell("web", "compare", "2026-03-01T10:40:00Z", ids=[("cookie_id", "ck-z")])
    assert subjects(again) == subjects(browser)


def test_a_new_verified_identifier_lets_two_anonymous_browsers_merge(story: Story) -> None:
    """§6.5: profiles that own only cookies and devices are anonymous, so an event with a
    verified identifier may merge them, even though no verified identifier reached them."""
    first = story.tell("web", "compare", "2026-03-01T10:00:00Z", ids=[("cookie_id", "ck-1")])
    second = story.tell("app", "compare", "2026-03-01T10:01:00Z", ids=[("device_id", "dev-2")])
    out = story.tell("app", "identify", "2026-03-01T10:02:00Z",
                     ids=[("cookie_id", "ck-1"), ("device_id", "dev-2")],
                     verified=[("email", "new@x.com")])
    assert types(out) == ["identity.merged"]
    assert {out[0]["data"]["survivor_id"], out[0]["data"]["merged_id"]} == \
        subjects(first) | subjects(second)


def test_anonymous_browsing_joins_the_customer_who_logs_in(story: Story) -> None:
    """The cookie's anonymous session merges into the profile of the customer who logs in."""
    known = story.tell("app", "inform", "2026-03-01T09:00:00Z", verified=[("customer_id", "C-1")])
    anon = story.tell("web", "compare", "2026-03-01T10:00:00Z", ids=[("cookie_id", "ck-9")])
    login = story.tell("web", "identify", "2026-03-01T10:05:00Z",
                       verified=[("customer_id", "C-1")], ids=[("cookie_id", "ck-9")])
    assert types(login) == ["identity.merged"]
    merged = login[0]["data"]
    assert merged["survivor_id"] == known[0]["subject"]
    assert merged["merged_id"] == anon[0]["subject"]
    assert merged["identifier_types"] == ["cookie_id"]
    later = story.tell("web", "compare", "2026-03-01T10:30:00Z", ids=[("cookie_id", "ck-9")])
    assert subjects(later) == subjects(known)


def test_merged_journeys_keep_their_ids_and_move_to_the_survivor(story: Story) -> None:
    """After a merge, the anonymous journey continues under the survivor with its own id."""
    story.tell("app", "support", "2026-03-01T09:00:00Z", verified=[("customer_id", "C-1")])
    anon = story.tell("web", "inform", "2026-03-01T10:00:00Z", ids=[("cookie_id", "ck-9")])
    story.tell("web", "identify", "2026-03-01T10:05:00Z",
               verified=[("customer_id", "C-1")], ids=[("cookie_id", "ck-9")])
    out = story.tell("app", "compare", "2026-03-01T11:00:00Z", verified=[("customer_id", "C-1")])
    assert out[0]["type"] == "journey.continued"
    assert out[0]["data"]["journey_id"] == anon[0]["data"]["journey_id"]
    assert out[0]["data"]["previous_event_id"] == anon[0]["data"]["event_id"]


def test_an_order_never_glues_two_known_people_together(story: Story) -> None:
    """§6.5: a profile to merge must be reached through a verified identifier of the event or
    be anonymous. Bob bought the order (a gift); Ann, signed in, asks about it: the order
    reaches Bob's profile, which is known and not reached through a verified identifier of
    hers, so nothing is merged (`unverified_link`, naming the order) and the event is Ann's."""
    bob = story.tell("web", "purchase", "2026-03-01T09:00:00Z", verified=[("email", "bob@x.com")],
                     refs={"order_id": "O-9"}, outcome="completed")
    ann = story.tell("app", "inform", "2026-03-01T09:05:00Z", verified=[("customer_id", "C-9")])
    out = story.tell("chat", "support", "2026-03-01T09:10:00Z", verified=[("customer_id", "C-9")],
                     refs={"order_id": "O-9"})
    assert out[0]["type"] == "identity.conflict"
    assert out[0]["data"]["reason"] == "unverified_link"
    assert out[0]["data"]["identifier_type"] == "order_id"
    assert sorted(out[0]["data"]["customer_ids"]) == sorted([ann[0]["subject"], bob[0]["subject"]])
    assert "identity.merged" not in types(out)
    assert {e["subject"] for e in out} == {ann[0]["subject"]}
    assert out[1]["data"]["journey_id"] != bob[0]["data"]["journey_id"]


def test_an_anonymous_profile_reached_through_its_order_merges_into_the_buyer(story: Story) -> None:
    """The cart was filled anonymously (a cookie) under an order number; the buyer's verified
    account shows up with that order: the anonymous profile joins the buyer's."""
    anon = story.tell("web", "purchase", "2026-03-01T09:00:00Z", ids=[("cookie_id", "ck-9")],
                      refs={"order_id": "O-9"}, outcome="started")
    buyer = story.tell("app", "inform", "2026-03-01T09:05:00Z", verified=[("customer_id", "C-9")])
    out = story.tell("web", "pay", "2026-03-01T09:10:00Z", verified=[("customer_id", "C-9")],
                     refs={"order_id": "O-9"})
    assert out[0]["type"] == "identity.merged"
    assert out[0]["data"]["survivor_id"] == buyer[0]["subject"]
    assert out[0]["data"]["merged_id"] == anon[0]["subject"]
    assert out[0]["data"]["identifier_types"] == ["order_id"]


def test_an_order_alone_never_merges_without_a_verified_identifier(story: Story) -> None:
    """A typed-in e-mail next to someone else's order number glues nobody together."""
    story.tell("web", "purchase", "2026-03-01T09:00:00Z", verified=[("customer_id", "C-1")],
               refs={"order_id": "O-1"}, outcome="completed")
    story.tell("email", "inform", "2026-03-01T09:05:00Z", ids=[("email", "x@y.com")])
    out = story.tell("web", "support", "2026-03-01T09:10:00Z", ids=[("email", "x@y.com")],
                     refs={"order_id": "O-1"})
    assert out[0]["type"] == "identity.conflict"
    assert out[0]["data"]["reason"] == "unverified_link"


def test_survivor_owns_the_highest_priority_verified_identifier(story: Story) -> None:
    """When a verified e-mail and a verified customer id meet, the customer id's owner wins."""
    by_email = story.tell("email", "inform", "2026-03-01T09:00:00Z", verified=[("email", "e@x.com")])
    by_crm = story.tell("store", "inform", "2026-03-01T09:30:00Z", verified=[("customer_id", "C-5")])
    out = story.tell("web", "identify", "2026-03-01T10:00:00Z",
                     verified=[("email", "e@x.com"), ("customer_id", "C-5")])
    assert out[0]["data"]["survivor_id"] == by_crm[0]["subject"]
    assert out[0]["data"]["merged_id"] == by_email[0]["subject"]


def test_two_customer_ids_never_end_on_one_profile(story: Story) -> None:
    """Merging two profiles with different CRM ids is refused as a unique conflict."""
    story.tell("store", "inform", "2026-03-01T09:00:00Z",
               verified=[("customer_id", "C-1"), ("email", "one@x.com")])
    story.tell("store", "inform", "2026-03-01T09:10:00Z", verified=[("customer_id", "C-2")])
    out = story.tell("web", "identify", "2026-03-01T10:00:00Z",
                     verified=[("customer_id", "C-2"), ("email", "one@x.com")])
    assert types(out) == ["identity.conflict"]
    assert out[0]["data"]["reason"] == "unique_conflict"
    assert out[0]["data"]["identifier_type"] == "customer_id"


def test_a_sixth_email_is_not_linked(story: Story) -> None:
    """E-mail allows five values per profile; a sixth is refused with limit_exceeded."""
    for n in range(5):
        story.tell("web", "inform", f"2026-03-01T09:0{n}:00Z",
                   verified=[("customer_id", "C-1")], ids=[("email", f"a{n}@x.com")])
    out = story.tell("web", "inform", "2026-03-01T09:30:00Z",
                     verified=[("customer_id", "C-1")], ids=[("email", "a5@x.com")])
    assert out[0]["type"] == "identity.conflict"
    assert out[0]["data"]["reason"] == "limit_exceeded"
    assert out[0]["data"]["identifier_type"] == "email"
    stranger = story.tell("web", "inform", "2026-03-01T09:40:00Z", ids=[("email", "a5@x.com")])
    assert subjects(stranger) != {out[0]["subject"]}


def test_the_merge_guard_stops_the_hundred_and_first_merge(story: Story) -> None:
    """At most 100 profiles merge into one; the next merge is refused with merge_limit."""
    story.tell("web", "inform", "2026-03-01T00:00:00Z", verified=[("customer_id", "C-1")])
    reasons = []
    for n in range(101):  # anonymous carts, each claimed at login
        at = f"2026-03-01T{n // 60:02d}:{n % 60:02d}:30Z"
        story.tell("web", "purchase", at, refs={"cart_id": f"K-{n}"}, outcome="started")
        out = story.tell("web", "identify", at, verified=[("customer_id", "C-1")],
                         refs={"cart_id": f"K-{n}"})
        reasons += [e["data"].get("reason", "merged") for e in out]
    assert reasons.count("merged") == 100
    assert reasons[-1] == "merge_limit"


def test_refusing_consent_isolates_the_event(story: Story) -> None:
    """An event without stitching consent neither finds nor links the known customer."""
    known = story.tell("web", "inform", "2026-03-01T09:00:00Z",
                       verified=[("customer_id", "C-1")], ids=[("cookie_id", "ck-1")])
    iso = story.tell("web", "compare", "2026-03-01T09:05:00Z", consent=False,
                     verified=[("customer_id", "C-1")], ids=[("cookie_id", "ck-1"),
                                                             ("phone", "+393470000001")])
    assert subjects(iso) != subjects(known)
    assert types(iso) == ["journey.started"]
    by_phone = story.tell("voice", "inform", "2026-03-01T09:10:00Z", ids=[("phone", "+393470000001")])
    assert subjects(by_phone) not in (subjects(known), subjects(iso))
    again = story.tell("web", "compare", "2026-03-01T09:15:00Z", consent=False,
                       ids=[("cookie_id", "ck-1")])
    assert subjects(again) == subjects(iso)


def test_identifier_values_never_leave_in_clear(story: Story) -> None:
    """With hashing on, no identifier or device value appears in any output."""
    secrets = ["anna.rossi@example.it", "+393471234567", "DEVICE-SECRET-1", "ck-secret"]
    story.tell("app", "inform", "2026-03-01T09:00:00Z", ids=[("email", secrets[0])],
               device=secrets[2])
    story.tell("web", "compare", "2026-03-01T09:05:00Z",
               ids=[("phone", secrets[1]), ("cookie_id", secrets[3]), ("email", secrets[0])],
               device="other-device")
    text = b"".join(orjson.dumps(e) for e in story.outputs).decode()
    assert story.outputs
    for secret in secrets:
        assert secret not in text


def test_hashing_depends_on_the_pepper(config: object) -> None:
    """Two peppers hash the same device to different values; the same pepper to the same."""
    from journey_stitcher.config import StitcherConfig

    assert isinstance(config, StitcherConfig)

    def device_hash(pepper: bytes) -> str:
        s = Story(config, pepper)
        s.tell("app", "inform", "2026-03-01T09:00:00Z", ids=[("email", "a@x.com")], device="D1")
        return str(s.outputs[0]["data"]["device_id"])

    assert device_hash(PEPPER) == device_hash(PEPPER)
    assert device_hash(PEPPER) != device_hash(b"another-pepper")


def test_ids_are_deterministic_across_runs(config: object) -> None:
    """Two stitchers fed the same events emit byte-identical outputs."""
    from journey_stitcher.config import StitcherConfig

    assert isinstance(config, StitcherConfig)
    runs = []
    for _ in range(2):
        s = Story(config)
        s.tell("web", "inform", "2026-03-01T09:00:00Z", ids=[("cookie_id", "c")], device="d1")
        s.tell("web", "identify", "2026-03-01T09:01:00Z", verified=[("customer_id", "C")],
               ids=[("cookie_id", "c")])
        s.tell("app", "purchase", "2026-03-01T09:02:00Z", verified=[("customer_id", "C")],
               outcome="completed", refs={"order_id": "O1"}, device="d2")
        runs.append(orjson.dumps(s.outputs))
    assert runs[0] == runs[1]


def test_a_placeholder_order_number_ties_nobody_together(story: Story) -> None:
    """An owned reference whose value is blocked (`undefined`, `null`, blank: an adapter's
    placeholder) is no reference: two buyers with it stay apart, their journeys too, and a
    scan that knows nothing else has no identity. Refs are still emitted as given."""
    ann = story.tell("web", "purchase", "2026-03-01T10:00:00Z", verified=[("email", "ann@x.com")],
                     refs={"order_id": "undefined"}, outcome="started")
    bob = story.tell("web", "purchase", "2026-03-01T11:00:00Z", verified=[("email", "bob@x.com")],
                     refs={"order_id": "undefined"}, outcome="started")
    assert types(bob) == ["journey.started"]
    assert bob[0]["subject"] != ann[0]["subject"]
    assert bob[0]["data"]["refs"] == {"order_id": "undefined"}
    again = story.tell("chat", "support", "2026-03-01T12:00:00Z", verified=[("email", "ann@x.com")],
                       refs={"order_id": " NULL "})
    assert types(again) == ["journey.started"]  # a service journey: no order joins it to the cart
    for value in ("null", "  ", "0"):
        rejection = story.rejects(story.event("courier", "delivery", "2026-03-01T13:00:00Z",
                                              refs={"order_id": value}))
        assert rejection.reason == "no_identity"
        assert rejection.message.startswith("identifiers: ")
