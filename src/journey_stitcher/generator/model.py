"""Synthetic people: stable identifiers, devices and habits of one person.

Everything about person `index` is derived from `(seed, index)` alone, so a person can be
built lazily the first time traffic needs them and is the same in every run. Identifier
values are made unique per person by construction (bijections of the index), so two people
share a value only where a scenario makes them (a household, in non conflict-free mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Final

FIRST_NAMES: Final = (
    "giulia", "marco", "francesca", "luca", "chiara", "alessandro", "sara", "andrea",
    "martina", "matteo", "valentina", "davide", "elena", "simone", "federica", "lorenzo",
    "anna", "giorgio", "silvia", "paolo", "laura", "stefano", "alessia", "roberto",
    "elisa", "francesco", "giovanna", "antonio", "beatrice", "riccardo", "ilaria", "fabio",
)
LAST_NAMES: Final = (
    "rossi", "russo", "ferrari", "esposito", "bianchi", "romano", "colombo", "ricci",
    "marino", "greco", "bruno", "gallo", "conti", "deluca", "mancini", "costa",
    "giordano", "rizzo", "lombardi", "moretti", "barbieri", "fontana", "santoro", "mariani",
    "rinaldi", "caruso", "ferrara", "galli", "martini", "leone", "longo", "gentile",
)
EMAIL_DOMAINS: Final = (
    "gmail.com", "gmail.com", "gmail.com", "libero.it", "libero.it", "hotmail.it", "yahoo.it",
    "outlook.it", "virgilio.it", "tiscali.it", "icloud.com", "alice.it",
)
WORK_DOMAINS: Final = ("azienda.it", "studio-associato.it", "comune.milano.it", "unimi.it")
MOBILE_PREFIXES: Final = (
    "320", "324", "327", "328", "329", "330", "333", "334", "335", "336", "337", "338",
    "339", "340", "342", "345", "346", "347", "348", "349", "350", "351", "366", "370",
    "371", "377", "380", "388", "389", "391", "392", "393",
)
STORES: Final = (
    "MI-DUOMO", "MI-CITYLIFE", "RM-EUR", "RM-TERMINI", "TO-LINGOTTO", "NA-VOMERO",
    "BO-CENTRO", "FI-NOVOLI", "GE-PORTO", "PA-LIBERTA", "BA-MURAT", "VR-ARENA",
)

_CUSTOMER_SPACE: Final = 90_000_000
_PHONE_SPACE: Final = len(MOBILE_PREFIXES) * 10_000_000
_LOYALTY_SPACE: Final = 900_000_000
_HOUSEHOLD_SHARE: Final = 0.03


@dataclass(frozen=True, slots=True)
class Device:
    """A device of a person: `app` when the company app is installed (its install id is
    then a `device_id` identifier); web traffic on it carries cookies built on `cookie_base`."""

    id: str
    type: str
    app: bool
    cookie_base: str
    shared: bool = False

    def cookie(self, generation: int) -> str:
        """The web cookie of this device after `generation` cookie resets."""
        return f"GA1.2.{self.cookie_base}.{generation}"


@dataclass(frozen=True, slots=True)
class Person:
    """One synthetic customer and their stable identifiers.

    `email` is the personal address used at sign-up, `work_email` is added to the CRM later,
    `family_email` is shared with a household member; `phone` is E.164. An `anonymous`
    person never signs in: only cookies ever identify them.
    """

    person_id: str
    index: int
    first_name: str
    last_name: str
    customer_id: str
    email: str
    work_email: str | None
    family_email: str | None
    phone: str
    loyalty_id: str | None
    devices: tuple[Device, ...]
    iot_device_id: str | None
    home_store: str
    anonymous: bool
    store_affinity: float
    duplicate_customer_id: str | None = None

    @property
    def emails(self) -> tuple[str, ...]:
        """Every e-mail address of this person."""
        extra = (self.work_email, self.family_email)
        return (self.email, *(email for email in extra if email is not None))

    def device(self, kind: str) -> int | None:
        """Index of this person's first device of type `kind`, if any."""
        for position, device in enumerate(self.devices):
            if device.type == kind:
                return position
        return None


@dataclass(slots=True)
class PersonState:
    """What a person has done so far, as far as later traffic depends on it."""

    registered: bool = False
    second_email_linked: bool = False
    cookie_generation: list[int] = field(default_factory=list)
    known_devices: set[int] = field(default_factory=set)  # device browsers/apps signed in
    cookie_resets: int = 0
    serial: int = 0
    events: int = 0
    orders: list[str] = field(default_factory=list)

    def next_serial(self) -> int:
        """A number never returned before for this person (ids of orders, cases, sessions)."""
        self.serial += 1
        return self.serial

    def next_event(self) -> int:
        """The number of this person's next event (1-based)."""
        self.events += 1
        return self.events


def unit_hash(seed: int, index: int, salt: int) -> float:
    """A deterministic pseudo-random number in [0, 1) of `(seed, index, salt)` (splitmix64):
    much cheaper than seeding a `Random` for a single draw."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + salt) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return ((z ^ (z >> 31)) >> 11) / 9_007_199_254_740_992


def _scramble(index: int, multiplier: int, seed: int, space: int) -> int:
    """A bijection of `[0, space)` (multiplier coprime with space): unique values per index."""
    return (index * multiplier + seed * 7_919) % space


def _phone(index: int, seed: int) -> str:
    value = _scramble(index, 2_654_435_761, seed, _PHONE_SPACE)
    prefix = MOBILE_PREFIXES[value // 10_000_000]
    rest = f"{value % 10_000_000:07d}"
    if len(set(prefix + rest)) == 1:  # "3333333333" would be a blocked placeholder
        prefix = "331"  # outside MOBILE_PREFIXES: still unique
    return f"+39{prefix}{rest}"


def _device_id(rng: Random, position: int, owner: int, seed: int) -> str:
    return (f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{position:x}{rng.getrandbits(8):02x}"
            f"-a{seed & 0xFFF:03x}-{owner:012x}")


def _devices(rng: Random, index: int, seed: int, anonymous: bool) -> list[Device]:
    kinds = ["smartphone"] if anonymous or rng.random() < 0.92 else []
    if anonymous:
        if rng.random() < 0.4:
            kinds = ["desktop"]
    else:
        if rng.random() < 0.65:
            kinds.append("desktop")
        if rng.random() < 0.25:
            kinds.append("tablet")
        if not kinds:
            kinds = ["desktop"]
    devices = []
    for position, kind in enumerate(kinds):
        app = not anonymous and kind != "desktop" and rng.random() < 0.7
        cookie_base = f"{rng.randrange(10**9):09d}{position}{index:x}"
        devices.append(Device(_device_id(rng, position, index, seed), kind, app, cookie_base))
    return devices


def _household_extras(seed: int, index: int) -> tuple[Device, str] | None:
    """A desktop and a family e-mail shared by persons `2k` and `2k+1`, for a few pairs."""
    pair = index // 2
    if unit_hash(seed, pair, 0x5EED) >= _HOUSEHOLD_SHARE:
        return None
    rng = Random(seed * 1_000_003 + pair + 0x5EED)
    owner = 0xF00000000000 + pair
    device = Device(_device_id(rng, 9, owner, seed), "desktop", False,
                    f"{rng.randrange(10**9):09d}9{owner:x}", shared=True)
    email = f"famiglia.{rng.choice(LAST_NAMES)}{pair}@{rng.choice(EMAIL_DOMAINS)}"
    return device, email


def make_person(index: int, *, seed: int = 0, anonymous: bool = False,
                conflict_free: bool = False) -> Person:
    """Person number `index` of the population of `seed`.

    Outside `conflict_free` mode a few household pairs share a desktop and a family e-mail
    and a few people hold a duplicate customer account: the identity conflicts of real data.
    """
    rng = Random(seed * 1_000_003 + index)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    style = rng.randrange(4)
    local = (f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{last}.{first}")[style]
    email = f"{local}{index}@{rng.choice(EMAIL_DOMAINS)}"
    work_email = None
    if rng.random() < 0.3:
        work_email = f"{first}.{last}{index}@{rng.choice(WORK_DOMAINS)}"
    family_email = None
    devices = _devices(rng, index, seed, anonymous)
    loyalty = None
    if rng.random() < 0.4:
        loyalty = f"FID{_scramble(index, 16_807, seed, _LOYALTY_SPACE) + 100_000_000:09d}"
    iot = f"iot-{rng.getrandbits(24):06x}{index:x}" if rng.random() < 0.05 else None
    duplicate = None
    if not conflict_free and not anonymous:
        extras = _household_extras(seed, index)
        if extras is not None:
            devices.append(extras[0])
            family_email = extras[1]
        if rng.random() < 0.005:
            duplicate = f"C{_scramble(index + 50_000_000, 48_271, seed, _CUSTOMER_SPACE) + 10**7:08d}"
    return Person(
        person_id=f"p{seed}-{index}",
        index=index,
        first_name=first,
        last_name=last,
        customer_id=f"C{_scramble(index, 48_271, seed, _CUSTOMER_SPACE) + 10_000_000:08d}",
        email=email,
        work_email=work_email,
        family_email=family_email,
        phone=_phone(index, seed),
        loyalty_id=loyalty,
        devices=tuple(devices),
        iot_device_id=iot,
        home_store=rng.choice(STORES),
        anonymous=anonymous,
        store_affinity=rng.random() ** 2,
        duplicate_customer_id=duplicate,
    )
