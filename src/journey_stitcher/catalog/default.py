"""The default catalog of SPEC §4, as data."""

from __future__ import annotations

from datetime import timedelta

from journey_stitcher.catalog.model import (
    IDENTIFY,
    Catalog,
    Channel,
    Family,
    IdentifierType,
    Touchpoint,
)

_PURCHASE_PRE = ("discover", "inform", "compare", "verify")
_PURCHASE = ("purchase", "pay", "order_delivery")
_PURCHASE_POST = ("delivery", "pickup")
_SERVICE = ("support", "complaint", "return", "service_visit")
_LOYALTY = ("feedback", "loyalty")
_GOALS = frozenset({"purchase", "support", "complaint", "return", "service_visit"})

ALL_TOUCHPOINTS: tuple[str, ...] = (
    *_PURCHASE_PRE, *_PURCHASE, *_PURCHASE_POST, *_SERVICE, *_LOYALTY
)
_PHYSICAL_ONLY = frozenset({"delivery", "pickup", "service_visit"})


def _touchpoints() -> dict[str, Touchpoint]:
    table: list[tuple[tuple[str, ...], str, str]] = [
        (_PURCHASE_PRE, "pre_purchase", "purchase"),
        (_PURCHASE, "purchase", "purchase"),
        (_PURCHASE_POST, "post_purchase", "purchase"),
        (_SERVICE, "post_purchase", "service"),
        (_LOYALTY, "loyalty", "loyalty"),
    ]
    result = {
        tp: Touchpoint(tp, phase, family, tp in _GOALS)
        for ids, phase, family in table
        for tp in ids
    }
    result[IDENTIFY] = Touchpoint(IDENTIFY, None, None)
    return result


def _channels() -> dict[str, Channel]:
    every = frozenset(ALL_TOUCHPOINTS)
    digital = every - _PHYSICAL_ONLY
    rows: list[tuple[str, str, str, bool, frozenset[str]]] = [
        ("web", "digital", "two-way", False, digital),
        ("app", "digital", "two-way", False, digital),
        ("chat", "digital", "two-way", True, digital),
        ("email", "digital", "two-way", False, digital),
        ("social", "digital", "two-way", False, digital),
        ("kiosk", "digital", "two-way", False, digital),
        ("ads", "digital", "one-way", False, frozenset({"discover"})),
        ("iot", "digital", "one-way", False, frozenset({"discover", "support"})),
        ("voice", "analog", "two-way", True, digital),
        ("sms", "analog", "two-way", False, every - _PHYSICAL_ONLY - {"purchase"}),
        ("store", "physical", "two-way", True, every),
        ("courier", "physical", "two-way", True,
         frozenset({"delivery", "pay", "return", "pickup"})),
        ("field_service", "physical", "two-way", True,
         frozenset({"service_visit", "support", "pay", "feedback"})),
        ("print", "physical", "one-way", False, frozenset({"discover"})),
    ]
    return {cid: Channel(cid, kind, direction, assisted, tps)
            for cid, kind, direction, assisted, tps in rows}


def default_catalog() -> Catalog:
    """The catalog of SPEC §4, used when no configuration file replaces a table."""
    return Catalog(
        channels=_channels(),
        touchpoints=_touchpoints(),
        families={
            "purchase": Family("purchase", timedelta(days=14)),
            "service": Family("service", timedelta(days=3)),
            "loyalty": Family("loyalty", timedelta(days=30)),
        },
        identifier_types={
            t.id: t
            for t in (
                IdentifierType("customer_id", 100, 1),
                IdentifierType("loyalty_id", 90, 1),
                IdentifierType("email", 80, 5),
                IdentifierType("phone", 70, 5),
                IdentifierType("device_id", 40, 20),
                IdentifierType("cookie_id", 20, 50),
            )
        },
        owned_refs=frozenset({"order_id", "cart_id", "case_id", "appointment_id"}),
        blocked_values=frozenset({
            "", "null", "none", "undefined", "nan", "anonymous", "unknown", "test",
            "[object object]", "-1", "0",
        }),
    )
