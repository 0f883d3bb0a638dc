"""Who `show` and `erase` are about: the IDENTIFIER argument, read as the identity stage reads it.

    cus_…              a customer id, used as it is
    TYPE:VALUE         an identifier of the catalog (`email:Ann@Example.com`, `phone:+39 333 …`):
                       normalized, filtered and hashed with the pepper by the identity stage's own
                       `Normalizer`, so it finds the key the worker wrote
    REF:VALUE          an owned reference (`order_id:A-1`), used as given, as the resolver does

Raw values are personal data: a `Subject` keeps only the stored (hashed) form, and its `label`
never shows the raw value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from journey_stitcher.catalog.model import Catalog
from journey_stitcher.identity.normalize import Normalizer
from journey_stitcher.identity.resolver import REF_PREFIX
from journey_stitcher.interactions.model import Identifier

__all__ = ["InvalidIdentifier", "Subject", "abbreviate", "parse_subject"]

CUSTOMER_ID = re.compile(r"cus_[0-9A-Za-z]+")
SHOWN_HASH_CHARACTERS = 8


class InvalidIdentifier(ValueError):
    """The IDENTIFIER argument cannot name anybody; the message says what is accepted."""


@dataclass(frozen=True, slots=True)
class Subject:
    """A customer id given directly, or the identity-graph key to find the owner by
    (`email:<hash>`, `ref:order_id:A-1`). `label` is safe to print."""

    label: str
    customer_id: str | None = None
    key: str | None = None


def abbreviate(stored: str, hashing: bool) -> str:
    """A stored identifier value as `show` prints it: the start of the hash, or `***` when
    hashing is turned off (the stored value is then the raw one)."""
    if not hashing:
        return "***"
    return stored[:SHOWN_HASH_CHARACTERS] + "…"


def parse_subject(text: str, catalog: Catalog, normalizer: Normalizer, *, hashing: bool) -> Subject:
    """The subject named by `text`; raises `InvalidIdentifier` when it names nobody."""
    text = text.strip()
    if CUSTOMER_ID.fullmatch(text):
        return Subject(text, customer_id=text)
    kind, colon, value = text.partition(":")
    kind = kind.strip()
    if not colon:
        raise InvalidIdentifier(f"{_quoted(text)} is neither TYPE:VALUE nor a customer id "
                                f"(cus_…); {_accepted(catalog)}")
    if kind in catalog.identifier_types:
        return _identifier(kind, value, normalizer, hashing)
    if kind in catalog.owned_refs:
        if not catalog.usable_ref(value):  # what the resolver ignores names nobody either
            raise InvalidIdentifier(f"{kind}: the value is empty or blocked (a placeholder "
                                    "such as null or 0 ties nobody to a reference)")
        return Subject(f"{kind}:***", key=f"{REF_PREFIX}{kind}:{value}")
    if kind == "product_id":
        raise InvalidIdentifier("product_id belongs to nobody (SPEC §4): it cannot name a customer")
    raise InvalidIdentifier(f"unknown identifier type {kind!r}; {_accepted(catalog)}")


def _identifier(kind: str, value: str, normalizer: Normalizer, hashing: bool) -> Subject:
    usable, _dropped = normalizer.resolve((Identifier(kind, value),))
    if not usable:
        raise InvalidIdentifier(f"{kind}: the value is blocked or unusable after normalization "
                                "(the worker ignores it too, so it names nobody)")
    stored = usable[0]
    return Subject(f"{kind}:{abbreviate(stored.value, hashing)}", key=stored.key)


def _accepted(catalog: Catalog) -> str:
    kinds = sorted(catalog.identifier_types) + sorted(catalog.owned_refs)
    return f"TYPE is one of {', '.join(kinds)}"


def _quoted(text: str) -> str:
    """The argument in an error message: it may be a raw identifier, so only its shape."""
    return "the argument" if text else "an empty argument"
