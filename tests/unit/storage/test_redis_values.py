"""The Redis value encodings (`storage.codec`) and the batch-loaded store, without Redis."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from journey_stitcher.identity.model import IdentityRecord
from journey_stitcher.journeys.model import CustomerJourneys, Journey, Touch
from journey_stitcher.storage import codec
from journey_stitcher.storage.redis_state import DecodedStates, LoadedJourneyStore, StateNotLoaded, week_of

T0 = datetime(2026, 5, 1, 9, 0, 0, 123000, tzinfo=UTC)


def _state() -> CustomerJourneys:
    touches = [
        Touch(T0, "e1", "web", "inform", None, "2026-05-01T09:00:00.123Z"),
        # an input written with an offset keeps its own text
        Touch(T0 + timedelta(minutes=5), "e2", "app", "compare", "d" * 32, "2026-05-01T11:05:00.123+02:00"),
    ]
    journey = Journey("jrn_1", "purchase", "completed", touches, {"product_id": ["SKU-1"]},
                      T0 + timedelta(minutes=5))
    return CustomerJourneys("cus_1", [journey], merged_into=None)


def test_customer_state_round_trips_exactly() -> None:
    state = _state()
    assert codec.decode_customer(codec.encode_customer(state)) == state
    tombstone = CustomerJourneys("cus_2", merged_into="cus_1")
    assert codec.decode_customer(codec.encode_customer(tombstone)) == tombstone


def test_touch_text_is_stored_only_when_it_is_not_the_canonical_form() -> None:
    stored = orjson.loads(codec.encode_customer(_state()))
    first, second = stored["j"][0]["t"]
    assert first[5] is None
    assert second[5] == "2026-05-01T11:05:00.123+02:00"


def _busy_state() -> CustomerJourneys:
    """Several journeys of several touches, one with an input's own time text."""
    journeys = []
    for j in range(6):
        touches = [Touch(T0 + timedelta(hours=j, minutes=i), f"e{j}-{i}", ("web", "app", "sms")[i % 3],
                         "inform", "d" * 32 if i % 2 else None) for i in range(5)]
        journeys.append(Journey(f"jrn_{j}", ("purchase", "service")[j % 2], "open" if j % 3 else "completed",
                                touches, {"product_id": [f"SKU-{j}"]} if j % 2 else {},
                                None if j % 3 else T0 + timedelta(hours=j, minutes=4)))
    journeys[0].touches[0] = Touch(T0, "e0-0", "web", "inform", None, "2026-05-01T11:00:00.123+02:00")
    return CustomerJourneys("cus_1", journeys, position=(3, 17))


def test_a_state_read_back_is_written_back_byte_for_byte_without_decoding_its_touches() -> None:
    raw = codec.encode_customer(_busy_state())
    state = codec.decode_customer(raw)
    # the rules look at every journey's last touch (deadlines) without decoding the others
    assert [j.last_activity for j in state.journeys] == [j.last_activity for j in _busy_state().journeys]
    assert all(j.stored is not None for j in state.journeys)
    assert codec.encode_customer(state) == raw
    # touches read but not changed: still the stored form
    assert state.journeys[2].touches == _busy_state().journeys[2].touches
    assert codec.encode_customer(state) == raw
    assert state == _busy_state()


def test_a_changed_journey_of_a_state_read_back_is_encoded_anew() -> None:
    raw = codec.encode_customer(_busy_state())
    for change in ("add", "refs", "complete"):
        read, expected = codec.decode_customer(raw), _busy_state()
        for state in (read, expected):
            journey = state.journeys[4]
            if change == "add":
                journey.add(Touch(T0 + timedelta(minutes=1), "late", "store", "buy", None))
            elif change == "refs":
                journey.add_refs({"order_id": "A-1", "product_id": "SKU-4"})
            else:
                journey.complete(T0 + timedelta(days=1))
        assert read.journeys[4].stored is None
        assert read == expected
        assert codec.encode_customer(read) == codec.encode_customer(expected) != raw
        assert codec.decode_customer(codec.encode_customer(read)) == expected


def test_outputs_round_trip_and_shrink() -> None:
    event = {
        "specversion": "1.0", "id": "9771941a936e1d3f3c554b9ddf31527a", "source": "journey-stitcher",
        "type": "journey.continued", "subject": "cus_52ffae82e834c00308e4b29f",
        "time": "2026-11-22T06:15:32.779Z", "datacontenttype": "application/json",
        "dataschema": "https://journey-stitcher.dev/schemas/journey.continued.v1.json",
        "data": {"customer_id": "cus_52ffae82e834c00308e4b29f", "journey_id": "jrn_1c58e981bbc80d81eae284d1",
                 "family": "purchase", "event_id": "evt-42-36", "channel": "web", "touchpoint": "inform",
                 "phase": "pre_purchase", "occurred_at": "2026-11-22T06:15:32.779Z", "refs": {},
                 "device_id": None, "capability_violation": False, "sequence": 2,
                 "previous_event_id": "evt-42-30", "previous_channel": "app",
                 "previous_touchpoint": "discover", "gap_seconds": 14.881, "same_channel": False},
    }
    outputs = (event,)
    stored = codec.encode_outputs(outputs)
    assert codec.decode_outputs(stored) == outputs
    assert len(stored) < len(orjson.dumps(outputs)) / 2
    assert codec.encode_outputs(()) == b""
    assert codec.decode_outputs(b"") == ()
    with pytest.raises(ValueError, match="unknown outputs encoding"):
        codec.decode_outputs(b"\x09rubbish")


def test_outputs_deflate_with_a_small_window_as_zlib_defaults_would() -> None:
    """The 8 KiB window gives the bytes of zlib's default one for outputs that fit in it, and
    what was stored with the default window (before that change) still decodes."""
    handoff = {
        "specversion": "1.0", "id": "0b3f6d1c8a2e4f57", "source": "journey-stitcher",
        "type": "journey.handoff", "subject": "cus_52ffae82e834c00308e4b29f",
        "time": "2026-11-22T06:20:01.004Z", "datacontenttype": "application/json",
        "dataschema": "https://journey-stitcher.dev/schemas/journey.handoff.v1.json",
        "data": {"customer_id": "cus_52ffae82e834c00308e4b29f", "journey_id": "jrn_1c58e981bbc80d81eae284d1",
                 "family": "purchase", "kind": "channel_switch", "assisted_to": False,
                 "from": {"event_id": "evt-42-36", "channel": "web", "touchpoint": "inform",
                          "device_id": None, "occurred_at": "2026-11-22T06:15:32.779Z"},
                 "to": {"event_id": "evt-42-37", "channel": "store", "touchpoint": "purchase",
                        "device_id": None, "occurred_at": "2026-11-22T06:20:01.004Z"},
                 "gap_seconds": 268.225},
    }
    for outputs in ((handoff,), (handoff,) * 3):
        plain = orjson.dumps(outputs)
        default = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=codec._OUTPUTS_DICTIONARY)
        stored_before = codec._OUTPUTS_V1 + default.compress(plain) + default.flush()
        assert codec.encode_outputs(outputs) == stored_before
        assert codec.decode_outputs(stored_before) == outputs
    many = (handoff,) * 40  # past the 8 KiB window: smaller deflate state, still decodes
    assert codec.decode_outputs(codec.encode_outputs(many)) == many


def test_loaded_store_answers_only_what_was_loaded() -> None:
    store = LoadedJourneyStore()
    store.outputs[("cus_1", "e1")] = None
    assert store.emitted("cus_1", "e1") is None
    with pytest.raises(StateNotLoaded) as missing:
        store.emitted("cus_1", "e2")
    assert missing.value.key == "x:cus_1|e2"
    with pytest.raises(StateNotLoaded) as whole:
        store.all_emitted("cus_1")
    assert whole.value.key == "a:cus_1"


def test_everything_of_a_merged_customer_includes_what_its_batch_emitted() -> None:
    """Merged in the batch that also processed one of its events: that event moves too."""
    store = LoadedJourneyStore()
    store.everything["cus_x"] = {"old": ({"id": "a"},)}
    store.outputs[("cus_x", "new")] = None
    store.put_emitted("cus_x", "new", ({"id": "b"},))
    store.put_emitted("cus_other", "elsewhere", ({"id": "c"},))
    assert store.all_emitted("cus_x") == {"old": ({"id": "a"},), "new": ({"id": "b"},)}
    assert store.emitted("cus_x", "old") == ({"id": "a"},)
    assert store.new_outputs == {("cus_x", "new"): ({"id": "b"},), ("cus_other", "elsewhere"): ({"id": "c"},)}


def test_outputs_generations_are_weeks() -> None:
    start = datetime.fromtimestamp(week_of(T0) * 7 * 86_400, UTC)  # weeks since the epoch
    assert start <= T0 < start + timedelta(days=7)
    assert week_of(start) == week_of(start + timedelta(days=6, hours=23, minutes=59)) == week_of(T0)
    assert week_of(start - timedelta(microseconds=1)) == week_of(T0) - 1
    assert week_of(start + timedelta(days=14)) == week_of(T0) + 2


def test_decoded_states_hand_out_copies_of_what_the_bytes_say() -> None:
    states = DecodedStates(budget=1 << 20)
    raw = codec.encode_customer(_state())
    first = states.decode("cus_1", raw)
    journey = first.own(first.journeys[0])  # the rules own a journey before changing it
    journey.add(Touch(T0, "e9", "sms", "inform"))
    journey.add_refs({"product_id": "SKU-2"})
    first.journeys.append(Journey("jrn_2", "support", "open"))
    again = states.decode("cus_1", raw)
    assert again == _state()  # the changes made to a copy did not leak into the cache
    changed = codec.encode_customer(first)
    assert states.decode("cus_1", changed) == first  # other bytes: decoded afresh


def test_copies_share_journeys_until_one_is_owned() -> None:
    original = _state()
    original.journeys.append(Journey("jrn_2", "support", "open", [Touch(T0, "e5", "voice", "support")]))
    copy = original.copy()
    assert copy.journeys[0] is original.journeys[0]
    mine = copy.own(copy.journeys[1])
    assert mine is not original.journeys[1]
    assert copy.journeys[1] is mine
    assert copy.own(mine) is mine  # owned once
    mine.add(Touch(T0 + timedelta(hours=1), "e6", "voice", "support"))
    mine.complete(T0 + timedelta(hours=1))
    assert [t.event_id for t in original.journeys[1].touches] == ["e5"]
    assert original.journeys[1].status == "open"
    # a journey adopted from another state (a merge) is borrowed too
    other = CustomerJourneys("cus_2")
    other.adopt(original.journeys[0])
    other.own(other.journeys[0]).add_refs({"order_id": "A-9"})
    assert original.journeys[0].refs == {"product_id": ["SKU-1"]}


def test_decoded_states_remember_what_was_written_and_forget_the_oldest() -> None:
    raw = codec.encode_customer(_state())
    small = b'{"c":"x","j":[],"m":null}'
    # room for this state and one small one, not two small ones beside it
    states = DecodedStates(budget=len(raw) + len(small) + 2 * DecodedStates.ENTRY_COST)
    # what was remembered is handed out for those bytes, without decoding them
    states.remember("cus_1", raw, CustomerJourneys("remembered"))
    assert states.decode("cus_1", raw).customer_id == "remembered"
    states.remember("cus_2", small, CustomerJourneys("cus_2"))
    assert len(states) == 2
    states.remember("cus_3", small, CustomerJourneys("cus_3"))
    assert len(states) == 2
    assert states.decode("cus_1", raw) == _state()  # forgotten: decoded from the bytes
    assert states.decode("cus_3", small).customer_id == "cus_3"


def test_decoded_states_stay_within_their_budget_whatever_the_states_sizes() -> None:
    budget = 8 * 1024
    states = DecodedStates(budget=budget)
    sizes: dict[str, int] = {}
    for n in range(200):  # states of growing size, as busy customers' are
        journey = Journey("jrn_1", "purchase", "open",
                          [Touch(T0 + timedelta(seconds=i), f"e{i}", "web", "inform") for i in range(n % 40)])
        state = CustomerJourneys(f"cus_{n % 30}", [journey])
        raw = codec.encode_customer(state)
        states.remember(state.customer_id, raw, state)
        sizes[state.customer_id] = len(raw)
        assert states.used <= budget
        # writing a customer again replaces its entry instead of adding to it
        assert states.used == sum(size + DecodedStates.ENTRY_COST
                                  for cid, size in sizes.items() if cid in states)
    assert 1 < len(states) < len(sizes)  # the budget, not the number of customers, set the bound
    huge = CustomerJourneys("cus_huge", [Journey("jrn_1", "purchase", "open", [
        Touch(T0 + timedelta(seconds=i), f"e{i}", "web", "inform") for i in range(400)])])
    raw = codec.encode_customer(huge)
    assert len(raw) > budget
    assert states.decode("cus_huge", raw) == huge  # too big to keep, still decoded right
    assert "cus_huge" not in states
    assert states.used <= budget


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    states = DecodedStates(budget=0)
    raw = codec.encode_customer(_state())
    assert states.decode("cus_1", raw) == _state()
    states.remember("cus_1", raw, _state())
    assert len(states) == 0
    assert states.used == 0
    assert (states.hits, states.misses) == (0, 1)


def test_decoded_touches_share_their_repeated_strings() -> None:
    first, second = (codec.decode_customer(codec.encode_customer(_state())) for _ in range(2))
    a, b = first.journeys[0].touches[1], second.journeys[0].touches[1]
    assert a == b
    assert a.channel is b.channel
    assert a.touchpoint is b.touchpoint
    assert a.device_id is b.device_id
    assert first.journeys[0].family is second.journeys[0].family


def test_identity_records_are_just_the_customer_id_unless_they_emitted_something() -> None:
    plain_record = IdentityRecord("cus_1", (), ())
    assert codec.encode_record(plain_record) == b"cus_1"
    assert codec.decode_record(b"cus_1") == plain_record
    assert codec.decode_record("cus_1") == plain_record
    merged = IdentityRecord("cus_1", ({"id": "x", "type": "identity.merged"},), ("cus_2",))
    assert codec.decode_record(codec.encode_record(merged)) == merged


def test_a_journey_changed_after_it_was_encoded_is_encoded_again() -> None:
    state = _state()
    codec.encode_customer(state)  # keeps each journey's stored form on it
    copy = state.copy()
    journey = copy.own(copy.journeys[0])
    journey.add(Touch(T0 + timedelta(hours=1), "e3", "store", "pickup", None, "2026-05-01T10:00:00.123Z"))
    journey.add_refs({"order_id": "A-1"})
    decoded = codec.decode_customer(codec.encode_customer(copy))
    assert [t.event_id for t in decoded.journeys[0].touches] == ["e1", "e2", "e3"]
    assert decoded.journeys[0].refs == {"product_id": ["SKU-1"], "order_id": ["A-1"]}
    # the original, unchanged, still encodes as it was
    assert codec.decode_customer(codec.encode_customer(state)) == _state()


def test_completing_a_journey_invalidates_its_stored_form() -> None:
    state = _state()
    state.journeys[0].status = "open"
    state.journeys[0].completed_at = None
    codec.encode_customer(state)
    state.journeys[0].complete(T0 + timedelta(minutes=5))
    assert codec.decode_customer(codec.encode_customer(state)) == _state()


def test_an_unchanged_journey_is_not_encoded_again() -> None:
    state = _state()
    codec.encode_customer(state)
    fragment = state.journeys[0].encoded
    state.journeys[0].add_refs({"product_id": "SKU-1"})  # already there: nothing changes
    copy = state.copy()
    assert copy.journeys[0].encoded is fragment
    assert codec.decode_customer(codec.encode_customer(copy)) == _state()
