"""`promtool check metrics` on a /metrics page: the Prometheus project's own linter."""

from __future__ import annotations

import shutil
import subprocess

import pytest

INSTALL = "make tools (Debian package prometheus)"


def check_metrics(page: bytes) -> None:
    """Fails the test (never skips) when promtool is missing or finds a problem in `page`."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(f"promtool not found on PATH: install it with {INSTALL}", pytrace=False)
    result = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True,
                            timeout=60, check=False)
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 0, f"promtool check metrics:\n{output}"
