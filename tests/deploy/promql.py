"""The metric contract of deploy/ (alerts and dashboard) and a PromQL metric-name extractor."""

from __future__ import annotations

import re

__all__ = ["EXPORTED_METRICS", "HISTOGRAMS", "allowed_series", "metric_names"]

# What the worker and the gateway export (SPEC §9; deploy/README.md "Monitoring").
EXPORTED_METRICS = frozenset({
    "journey_stitcher_events_in_total",
    "journey_stitcher_events_out_total",
    "journey_stitcher_dlq_total",
    "journey_stitcher_processing_seconds",
    "journey_stitcher_end_to_end_seconds",
    "journey_stitcher_consumer_lag_messages",
    "journey_stitcher_consumer_lag_seconds",
    "journey_stitcher_identifiers_dropped_total",
    "journey_stitcher_merges_total",
    "journey_stitcher_conflicts_total",
    "journey_stitcher_handoffs_total",
    "journey_stitcher_open_journeys",
    "journey_stitcher_held_events",
    "journey_stitcher_state_cache_bytes",
    "journey_stitcher_state_cache_lookups_total",
    "journey_stitcher_redis_seconds",
    "journey_stitcher_redis_errors_total",
    "journey_stitcher_rebalances_total",
    "journey_stitcher_ready",
    "journey_stitcher_gateway_requests_total",
    "journey_stitcher_gateway_events_total",
})
HISTOGRAMS = frozenset({
    "journey_stitcher_processing_seconds",
    "journey_stitcher_end_to_end_seconds",
    "journey_stitcher_redis_seconds",
})


def allowed_series() -> dict[str, str]:
    """Every series name a query may use, mapped to the exported metric it belongs to."""
    names = {name: name for name in EXPORTED_METRICS - HISTOGRAMS}
    for histogram in HISTOGRAMS:
        for suffix in ("_bucket", "_sum", "_count"):
            names[histogram + suffix] = histogram
    return names


_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                       "group_left", "group_right", "inf", "nan", "atan2"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = re.compile(r"(?<![\w:])\d[\w.]*")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric (series) names a PromQL expression selects.

    Good enough for the queries of this repository: strings, label matchers, ranges, grouping
    clauses, numbers and Grafana variables are removed; what remains that is not a function
    call or a keyword is a metric name.
    """
    text = _STRING.sub(" ", expr)
    text = _VARIABLE.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        if text[match.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group(0).lower() in _KEYWORDS:
            continue
        names.add(match.group(0))
    return names
