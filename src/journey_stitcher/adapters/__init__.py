"""Channel adapters: vendor payloads → interaction events (SPEC §3), as pure functions.

Every adapter has the same entry point (:data:`Adapter`)::

    result = ADAPTERS["sendgrid"](body, headers, received_at)
    result.events    # interaction events, ready for the `interactions` topic
    result.rejected  # broken items: reason + message naming the field (dead-letter them)
    result.skipped   # valid items that are not touchpoints (count them)

so that the HTTP gateway (``POST /v1/ingest/<name>``) and ``publish --adapter NAME`` can use
any of them by name. :func:`build_adapters` builds the registry with non-default mappings.
"""

from __future__ import annotations

from journey_stitcher.adapters.base import Adapter, AdapterResult, Event, Rejection, Touch
from journey_stitcher.adapters.canonical import (
    DEFAULT_CSV_MAPPING,
    CsvMapping,
    canonical_adapter,
    csv_adapter,
)
from journey_stitcher.adapters.errors import AdapterError, Skip
from journey_stitcher.adapters.segment import (
    DEFAULT_SEGMENT_CONFIG,
    SegmentConfig,
    segment_adapter,
)
from journey_stitcher.adapters.sendgrid import (
    DEFAULT_SENDGRID_CONFIG,
    SendGridConfig,
    sendgrid_adapter,
)
from journey_stitcher.adapters.shopify import (
    DEFAULT_SHOPIFY_CONFIG,
    ShopifyConfig,
    shopify_adapter,
)
from journey_stitcher.adapters.twilio import DEFAULT_TWILIO_CONFIG, TwilioConfig, twilio_adapter

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AdapterError",
    "AdapterResult",
    "CsvMapping",
    "Event",
    "Rejection",
    "SegmentConfig",
    "SendGridConfig",
    "ShopifyConfig",
    "Skip",
    "Touch",
    "TwilioConfig",
    "build_adapters",
]


def build_adapters(
    *,
    segment: SegmentConfig = DEFAULT_SEGMENT_CONFIG,
    twilio: TwilioConfig = DEFAULT_TWILIO_CONFIG,
    sendgrid: SendGridConfig = DEFAULT_SENDGRID_CONFIG,
    shopify: ShopifyConfig = DEFAULT_SHOPIFY_CONFIG,
    csv: CsvMapping = DEFAULT_CSV_MAPPING,
) -> dict[str, Adapter]:
    """Adapter name → entry point, with the given mappings.

    ``segment`` takes calls that say their own type (Segment's webhook destination, library
    batches); ``segment.track`` ... ``segment.batch`` stand for the HTTP API endpoints, whose
    bodies may omit ``type``.
    """
    return {
        "segment": segment_adapter(None, segment),
        "segment.track": segment_adapter("track", segment),
        "segment.page": segment_adapter("page", segment),
        "segment.screen": segment_adapter("screen", segment),
        "segment.identify": segment_adapter("identify", segment),
        "segment.batch": segment_adapter("batch", segment),
        "twilio": twilio_adapter(twilio),
        "sendgrid": sendgrid_adapter(sendgrid),
        "shopify": shopify_adapter(shopify),
        "canonical": canonical_adapter(),
        "csv": csv_adapter(csv),
    }


ADAPTERS: dict[str, Adapter] = build_adapters()
"""The adapters with their default mappings, by name."""
