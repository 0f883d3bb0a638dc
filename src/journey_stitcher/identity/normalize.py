"""Normalizing and filtering identifier values (SPEC §6.1).

Values are normalized (trimmed e-mails in lower case, phones in E.164 through
`phonenumbers`), blocked values are dropped, and what is left is hashed with the pepper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from journey_stitcher.catalog.model import Catalog
from journey_stitcher.ids import Hasher
from journey_stitcher.interactions.model import Identifier

_PHONE_PUNCTUATION = str.maketrans("", "", " -().\u00a0/")


@dataclass(frozen=True, slots=True)
class ResolvedIdentifier:
    """A usable identifier: its type, its stored (hashed) value and whether it was verified."""

    type: str
    value: str
    verified: bool

    @property
    def key(self) -> str:
        """The identity-graph key of this identifier."""
        return f"{self.type}:{self.value}"


def _normalize_email(value: str) -> str | None:
    email = value.strip().lower()
    local, _, domain = email.partition("@")
    return email if local and "." in domain and " " not in email else None


def _phone_normalizer(region: str) -> Callable[[str], str | None]:
    @lru_cache(maxsize=65_536)
    def normalize(value: str) -> str | None:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
            return None
        national = phonenumbers.national_significant_number(number)  # keeps a leading 0 (Italy)
        if len(set(national)) == 1:  # all-zero or all-same-digit: a placeholder, not a phone
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    return normalize


class Normalizer:
    """Turns the identifiers of an event into usable, hashed identifiers."""

    def __init__(self, catalog: Catalog, phone_region: str, hasher: Hasher) -> None:
        self._catalog = catalog
        self._blocked = catalog.blocked_values
        self._phone = _phone_normalizer(phone_region)
        self._hash = hasher

    def normalize_value(self, kind: str, raw: str) -> str | None:
        """The normalized plain value, or None when it is blocked or unusable."""
        if kind == "email":
            value = _normalize_email(raw)
        elif kind == "phone":
            value = self._phone(raw.strip().translate(_PHONE_PUNCTUATION) or raw)
        else:
            value = raw.strip()
        if value is None or value.lower() in self._blocked:
            return None
        spec = self._catalog.identifier_types.get(kind)  # a device id without a device_id type
        if spec is not None and any(pattern.search(value) for pattern in spec.blocked_patterns):
            return None
        return value

    def resolve(self, identifiers: tuple[Identifier, ...]) -> tuple[list[ResolvedIdentifier], int]:
        """The usable identifiers (first occurrence kept, verified if any copy is) and how
        many were dropped as blocked or unusable."""
        usable: dict[tuple[str, str], ResolvedIdentifier] = {}
        dropped = 0
        for identifier in identifiers:
            plain = self.normalize_value(identifier.type, identifier.value)
            if plain is None:
                dropped += 1
                continue
            resolved = ResolvedIdentifier(
                identifier.type, self._hash(identifier.type, plain), identifier.verified
            )
            slot = (resolved.type, resolved.value)
            known = usable.get(slot)
            if known is None or (resolved.verified and not known.verified):
                usable[slot] = resolved
        return list(usable.values()), dropped

    def hash_device(self, device_id: str) -> str | None:
        """Device ids leave the product hashed like `device_id` identifiers; a placeholder
        (blank, `unknown`, `null`, ... or a blocked pattern of `device_id`) is no device: it
        would otherwise make every real device after it a `device_switch`."""
        plain = self.normalize_value("device_id", device_id)
        return None if plain is None else self._hash("device_id", plain)
