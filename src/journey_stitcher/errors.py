"""The errors journey-stitcher raises, grouped by what the caller should do.

    StitcherError
    ├── InvalidInput        the event is bad: send it to the dead-letter topic with `reason`
    ├── TransientError      a dependency is unavailable: retry with backoff, never skip
    └── ConfigurationError  the configuration is wrong: stop and name the setting
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "InvalidInput", "StitcherError", "TransientError"]


class StitcherError(Exception):
    """Base of every error journey-stitcher raises on purpose."""


class InvalidInput(StitcherError):
    """An input event that can never be processed; it goes to the DLQ with `reason`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class TransientError(StitcherError):
    """A dependency (Kafka, Redis) is unavailable for now; the caller retries."""


class ConfigurationError(StitcherError):
    """The configuration cannot be used; the message names the file, the key and the problem."""
