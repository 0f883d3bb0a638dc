#!/usr/bin/env python3
"""Container health check: GET one URL, exit 0 on a 2xx answer, 1 otherwise.

    journey-stitcher-healthcheck [URL]

Without URL it checks the worker's liveness endpoint,
http://127.0.0.1:$JOURNEY_STITCHER_WEB_PORT/healthz (port 6066 by default). The gateway's is
http://127.0.0.1:8080/healthz (liveness) or /readyz (readiness). Standard library only, so that
the slim image needs no curl or wget.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4.0


def default_url() -> str:
    """The worker's liveness URL on this container's loopback interface."""
    port = os.environ.get("JOURNEY_STITCHER_WEB_PORT", "6066")
    return f"http://127.0.0.1:{port}/healthz"


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """Whether `url` answers 2xx within `timeout` seconds, and a one-line reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        return False, f"{url}: HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"{url}: {getattr(error, 'reason', error)}"
    if 200 <= status < 300:
        return True, f"{url}: HTTP {status}"
    return False, f"{url}: HTTP {status}"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else default_url()
    if not url.startswith(("http://", "https://")):
        print(f"usage: journey-stitcher-healthcheck [http://HOST:PORT/PATH], not {url!r}",
              file=sys.stderr)
        return 2
    healthy, reason = check(url)
    print(reason, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
