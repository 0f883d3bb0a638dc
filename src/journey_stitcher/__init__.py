"""journey-stitcher: one continuous journey per customer across every channel."""

__version__ = "0.1.0"
