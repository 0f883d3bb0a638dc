"""Shared paths and renderings for the tests of deploy/ (no cluster, no Docker engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.kustomize import Resource, build

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
BASE = DEPLOY / "k8s" / "base"
PRODUCTION = DEPLOY / "k8s" / "overlays" / "production"


@pytest.fixture(scope="session")
def base_resources() -> list[Resource]:
    """The rendered base kustomization."""
    return build(BASE)


@pytest.fixture(scope="session")
def production_resources() -> list[Resource]:
    """The rendered production overlay."""
    return build(PRODUCTION)
