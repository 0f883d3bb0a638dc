"""Realistic omnichannel traffic for tests, benchmarks and the demo.

`generate_events(GeneratorConfig(events=..., customers=..., seed=...))` streams interaction
events (SPEC §3) of a synthetic population pursuing purchase, service and loyalty journeys
across channels and devices; `generate_lines` gives JSON Lines (optionally with bad lines),
`generate_with_truth` pairs each event with the person who really made it. The seeds'
stories are scripted in `stories`.
"""

from journey_stitcher.generator.capabilities import SUPPORTS, supports
from journey_stitcher.generator.config import GeneratorConfig
from journey_stitcher.generator.events import Event
from journey_stitcher.generator.invalid import BAD_KINDS
from journey_stitcher.generator.lines import generate_line_bytes, generate_lines
from journey_stitcher.generator.model import Device, Person, make_person
from journey_stitcher.generator.stories import (
    anonymous_then_login,
    chat_escalated_to_call,
    click_and_collect,
    research_mobile_buy_laptop,
)
from journey_stitcher.generator.traffic import (
    Generated,
    generate,
    generate_events,
    generate_with_truth,
    person_of,
)

__all__ = [
    "BAD_KINDS",
    "SUPPORTS",
    "Device",
    "Event",
    "Generated",
    "GeneratorConfig",
    "Person",
    "anonymous_then_login",
    "chat_escalated_to_call",
    "click_and_collect",
    "generate",
    "generate_events",
    "generate_line_bytes",
    "generate_lines",
    "generate_with_truth",
    "make_person",
    "person_of",
    "research_mobile_buy_laptop",
    "supports",
]
