"""JSON Lines output, with bad lines mixed in on request."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from journey_stitcher.generator.config import GeneratorConfig
from journey_stitcher.generator.invalid import bad_line
from journey_stitcher.generator.traffic import generate_events, salted


def generate_line_bytes(cfg: GeneratorConfig) -> Iterator[bytes]:
    """Every event of `generate_events(cfg)` serialized with orjson (no newline). When
    `cfg.invalid_fraction` > 0, after each valid line a bad line follows with that
    probability (in addition to the valid ones, which stay exactly the same)."""
    fraction = cfg.invalid_fraction
    rng = salted(cfg.seed, "invalid")
    bad = 0
    for event in generate_events(cfg):
        yield orjson.dumps(event)
        if fraction and rng.random() < fraction:
            bad += 1
            text, _kind = bad_line(event, f"bad-{cfg.seed}-{bad}", rng)
            yield text.encode()


def generate_lines(cfg: GeneratorConfig) -> Iterator[str]:
    """`generate_line_bytes` as text lines (no newline)."""
    for line in generate_line_bytes(cfg):
        yield line.decode()
