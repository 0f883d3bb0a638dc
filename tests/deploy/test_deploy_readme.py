"""deploy/README.md documents every variable the containers get, and the program reads them."""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml
from pydantic import AliasChoices

from journey_stitcher.settings import Settings
from tests.deploy.conftest import BASE, DEPLOY, PRODUCTION
from tests.deploy.kustomize import build, find

README = DEPLOY / "README.md"
# The variables issue 5 lists for the containers.
CONTAINER_VARIABLES = frozenset({
    "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "JOURNEY_STITCHER_PEPPER", "JOURNEY_STITCHER_ENVIRONMENT",
    "JOURNEY_STITCHER_CONFIG", "JOURNEY_STITCHER_PARTITIONS", "JOURNEY_STITCHER_WEB_HOST",
    "JOURNEY_STITCHER_WEB_PORT", "JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL",
    "JOURNEY_STITCHER_KAFKA_SASL_MECHANISM", "JOURNEY_STITCHER_KAFKA_SASL_USERNAME",
    "JOURNEY_STITCHER_KAFKA_SASL_PASSWORD", "JOURNEY_STITCHER_KAFKA_SSL_CAFILE",
})


def _documented() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", README.read_text(encoding="utf-8")))


def _settings_variables() -> set[str]:
    """The environment variables `Settings` reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def _deployed_variables() -> set[str]:
    """Every variable the deploy files give the journey-stitcher containers."""
    names: set[str] = set()
    for directory in (BASE, PRODUCTION):
        resources = build(directory)
        for config_map in find(resources, "ConfigMap", "journey-stitcher-env"):
            names.update(config_map["data"])
        for deployment in find(resources, "Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                names.update(variable["name"] for variable in container.get("env", []))
        for secret in find(resources, "Secret"):
            names.update(secret.get("stringData", {}))
    compose_file = DEPLOY / "compose" / "compose.yaml"
    compose: dict[str, Any] = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    for service in ("worker", "gateway"):
        names.update(compose["services"][service]["environment"])
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    for line in dockerfile.splitlines():
        if line.startswith("ENV "):
            names.update(token.partition("=")[0] for token in shlex.split(line[4:]))
    return {name for name in names if name.startswith(("JOURNEY_STITCHER_", "KAFKA_", "REDIS_"))}


def test_readme_documents_the_container_variables() -> None:
    """Every variable of issue 5 and every variable the deploy files set is documented in deploy/README.md."""
    documented = _documented()
    assert documented >= CONTAINER_VARIABLES, CONTAINER_VARIABLES - documented
    deployed = _deployed_variables()
    assert deployed <= documented, deployed - documented


def test_deploy_files_set_the_container_variables() -> None:
    """Every variable of issue 5 is set by the manifests, the compose file or the image."""
    deployed = _deployed_variables()
    missing = CONTAINER_VARIABLES - deployed
    assert not missing, missing


def test_deployed_variables_are_read_by_the_program() -> None:
    """Every variable the deploy files set is a setting of the program (no typo goes unnoticed)."""
    unknown = _deployed_variables() - _settings_variables()
    assert not unknown, f"set by deploy/ but unknown to journey_stitcher.settings.Settings: {sorted(unknown)}"
