"""Kubernetes manifests (deploy/k8s): rendered with kustomize semantics, validated offline.

Built-in kinds are validated against the Kubernetes JSON schemas shipped by `kubernetes-validate`
(strict: unknown fields are errors), the KEDA custom resources against the CRD schemas vendored in
tests/deploy/schemas; then what makes the deployment operable is asserted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from journey_stitcher.config import config_from_document
from tests.deploy.conftest import BASE, PRODUCTION, SCHEMAS
from tests.deploy.kustomize import KustomizeError, Resource, build, find

# The oldest Kubernetes the manifests support (deploy/README.md) and the newest the schema
# package ships.
KUBERNETES_VERSIONS = ("1.30", latest_version())
CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject-v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-triggerauthentication-v1alpha1.json",
}
PARTITIONS = 8
WORKER = "journey-stitcher-worker"
GATEWAY = "journey-stitcher-gateway"
SECRET_VARIABLES = frozenset({
    "JOURNEY_STITCHER_PEPPER", "REDIS_URL", "JOURNEY_STITCHER_KAFKA_SASL_USERNAME",
    "JOURNEY_STITCHER_KAFKA_SASL_PASSWORD", "JOURNEY_STITCHER_INGEST_SECRET",
    "JOURNEY_STITCHER_TWILIO_AUTH_TOKEN", "JOURNEY_STITCHER_SENDGRID_PUBLIC_KEY",
    "JOURNEY_STITCHER_SHOPIFY_SECRET",
})
RENDERINGS = ("base_resources", "production_resources")


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields refused (the API server would silently prune them)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if ("properties" in strict and "additionalProperties" not in strict
            and not strict.get("x-kubernetes-preserve-unknown-fields")):
        strict["additionalProperties"] = False
    return strict


def _custom_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / CUSTOM_SCHEMAS[(api_version, kind)]).read_text(encoding="utf-8"))
    schema = _strict(schema)
    # metadata is `type: object` in a CRD; hold it to the ObjectMeta fields used here.
    schema["properties"]["metadata"] = {
        "type": "object", "required": ["name"], "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 1}, "namespace": {"type": "string"},
                       "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                       "annotations": {"type": "object", "additionalProperties": {"type": "string"}}},
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    return jsonschema.Draft7Validator(schema)


def _pod_spec(deployment: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def _container(deployment: Resource, name: str) -> dict[str, Any]:
    [container] = [c for c in _pod_spec(deployment)["containers"] if c["name"] == name]
    assert isinstance(container, dict)
    return container


def _env_sources(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    """Every variable the container gets (env and envFrom ConfigMaps), value or '<secret>'."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            [config_map] = find(resources, "ConfigMap", source["configMapRef"]["name"])
            values.update(config_map["data"])
    for variable in container.get("env", []):
        values[variable["name"]] = variable.get("value", "<secret>")
    return values


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _probe_port(container: dict[str, Any], probe: str) -> int:
    port = container[probe]["httpGet"]["port"]
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


# --- rendering and schemas ----------------------------------------------------------------------


def test_base_renders_the_expected_resources(base_resources: list[Resource]) -> None:
    """The base renders every component: deployments, services, budgets, autoscaler, config, secret."""
    kinds = sorted((r["kind"], r["metadata"]["name"]) for r in base_resources)
    assert kinds == sorted([
        ("ServiceAccount", "journey-stitcher"),
        ("ConfigMap", "journey-stitcher-env"),
        ("ConfigMap", "journey-stitcher-config"),
        ("Secret", "journey-stitcher-secrets"),
        ("Deployment", WORKER), ("Service", WORKER), ("PodDisruptionBudget", WORKER),
        ("ScaledObject", WORKER),
        ("Deployment", GATEWAY), ("Service", GATEWAY), ("PodDisruptionBudget", GATEWAY),
    ])


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_builtin_resources_match_the_kubernetes_schemas(rendering: str,
                                                        request: pytest.FixtureRequest) -> None:
    """Every built-in resource validates strictly against the Kubernetes schemas of the supported versions."""
    resources: list[Resource] = request.getfixturevalue(rendering)
    checked = 0
    for resource in resources:
        if (resource["apiVersion"], resource["kind"]) in CUSTOM_SCHEMAS:
            continue
        for version in KUBERNETES_VERSIONS:
            problem = None
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(part) for part in error.path)
                problem = (f"{resource['kind']}/{resource['metadata']['name']} (Kubernetes {version}): "
                           f"{where}: {error.message}")
            assert problem is None, problem
            checked += 1
    assert checked >= 2 * 9


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_custom_resources_match_the_keda_crd_schemas(rendering: str, request: pytest.FixtureRequest) -> None:
    """Every KEDA resource validates against its CRD's schema with unknown fields refused."""
    resources: list[Resource] = request.getfixturevalue(rendering)
    custom = [r for r in resources if (r["apiVersion"], r["kind"]) in CUSTOM_SCHEMAS]
    assert custom
    for resource in custom:
        errors = sorted(_custom_validator(resource["apiVersion"], resource["kind"]).iter_errors(resource),
                        key=lambda e: list(e.path))
        assert not errors, [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_keda_schema_catches_mistakes() -> None:
    """The strict KEDA schema rejects a misspelt field and a non-string trigger metadata value."""
    [scaled_object] = find(build(BASE), "ScaledObject")
    validator = _custom_validator("keda.sh/v1alpha1", "ScaledObject")
    misspelt = copy.deepcopy(scaled_object)
    misspelt["spec"]["maxReplicas"] = 8
    assert not validator.is_valid(misspelt)
    unquoted = copy.deepcopy(scaled_object)
    unquoted["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 1000
    assert not validator.is_valid(unquoted)


# --- the worker -----------------------------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_worker_deployment_is_operable(rendering: str, request: pytest.FixtureRequest) -> None:
    """The worker has probes on its web port, resources, a long grace period and runs as non-root."""
    resources: list[Resource] = request.getfixturevalue(rendering)
    [deployment] = find(resources, "Deployment", WORKER)
    pod = _pod_spec(deployment)
    worker = _container(deployment, "worker")
    assert worker["args"] == ["worker"]
    assert {p["containerPort"] for p in worker["ports"]} == {6066}
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert worker["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert _probe_port(worker, probe) == 6066
    resources_ = worker["resources"]
    assert {"cpu", "memory"} <= set(resources_["requests"])
    assert "memory" in resources_["limits"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    assert worker["securityContext"]["allowPrivilegeEscalation"] is False
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert worker["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_worker_environment_is_complete(rendering: str, request: pytest.FixtureRequest) -> None:
    """The worker gets every variable it needs, with the web server on 0.0.0.0:6066."""
    resources: list[Resource] = request.getfixturevalue(rendering)
    [deployment] = find(resources, "Deployment", WORKER)
    env = _env_sources(resources, _container(deployment, "worker"))
    assert {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "JOURNEY_STITCHER_PEPPER", "JOURNEY_STITCHER_CONFIG",
            "JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL", "JOURNEY_STITCHER_KAFKA_SASL_USERNAME",
            "JOURNEY_STITCHER_KAFKA_SASL_PASSWORD"} <= set(env)
    assert env["JOURNEY_STITCHER_ENVIRONMENT"] == "production"
    assert env["JOURNEY_STITCHER_PARTITIONS"] == str(PARTITIONS)
    assert env["JOURNEY_STITCHER_WEB_HOST"] == "0.0.0.0"
    assert env["JOURNEY_STITCHER_WEB_PORT"] == "6066"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_configuration_file_is_mounted_where_the_variable_points(rendering: str,
                                                                  request: pytest.FixtureRequest) -> None:
    """JOURNEY_STITCHER_CONFIG names a key of the mounted catalog ConfigMap, in every pod that reads it."""
    resources: list[Resource] = request.getfixturevalue(rendering)
    for name, container_name in ((WORKER, "worker"), (GATEWAY, "gateway")):
        [deployment] = find(resources, "Deployment", name)
        container = _container(deployment, container_name)
        config_path = Path(_env_sources(resources, container)["JOURNEY_STITCHER_CONFIG"])
        volumes = {v["name"]: v for v in _pod_spec(deployment)["volumes"]}
        [mount] = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == config_path.parent]
        assert mount.get("readOnly") is True
        config_map_name = volumes[mount["name"]]["configMap"]["name"]
        [config_map] = find(resources, "ConfigMap", config_map_name)
        assert config_path.name in config_map["data"]


def test_catalog_configuration_is_valid(base_resources: list[Resource]) -> None:
    """The configuration file in the ConfigMap passes the product's own validation."""
    [config_map] = find(base_resources, "ConfigMap", "journey-stitcher-config")
    [(name, text)] = config_map["data"].items()
    config = config_from_document(yaml.safe_load(text), name)
    assert config.capability_check == "reject"
    assert config.hashing is True


def test_scaled_object_scales_the_worker_on_consumer_lag(base_resources: list[Resource]) -> None:
    """KEDA scales the worker on the kafka lag of group journey-stitcher, never beyond the partitions."""
    [scaled] = find(base_resources, "ScaledObject", WORKER)
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == WORKER
    assert find(base_resources, "Deployment", spec["scaleTargetRef"]["name"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= PARTITIONS
    [config_map] = find(base_resources, "ConfigMap", "journey-stitcher-env")
    assert spec["maxReplicaCount"] <= int(config_map["data"]["JOURNEY_STITCHER_PARTITIONS"])
    triggers = spec["triggers"]
    assert triggers
    assert {t["type"] for t in triggers} == {"kafka"}
    topics = {t["metadata"]["topic"] for t in triggers}
    assert "interactions" in topics
    [deployment] = find(base_resources, "Deployment", WORKER)
    source_container = _container(deployment, spec["scaleTargetRef"]["envSourceContainerName"])
    env = _env_sources(base_resources, source_container)
    for trigger in triggers:
        metadata = trigger["metadata"]
        assert metadata["consumerGroup"] == "journey-stitcher"
        assert int(metadata["lagThreshold"]) > 0
        assert metadata.get("allowIdleConsumers", "false") == "false"
        assert metadata["bootstrapServersFromEnv"] in env


def test_production_scaled_object_authenticates_to_kafka(production_resources: list[Resource]) -> None:
    """In production KEDA talks SASL_SSL to Kafka with credentials from a TriggerAuthentication."""
    [scaled] = find(production_resources, "ScaledObject", WORKER)
    assert scaled["spec"]["maxReplicaCount"] <= PARTITIONS
    authentications = {a["metadata"]["name"]: a for a in find(production_resources, "TriggerAuthentication")}
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["metadata"]["tls"] == "enable"
        assert trigger["metadata"]["sasl"] == "scram_sha512"
        authentication = authentications[trigger["authenticationRef"]["name"]]
        parameters = {ref["parameter"] for ref in authentication["spec"]["secretTargetRef"]}
        assert {"username", "password", "ca"} <= parameters


# --- the gateway, budgets, services ---------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_gateway_deployment_is_operable(rendering: str, request: pytest.FixtureRequest) -> None:
    """The gateway listens on 8080 with /healthz and /readyz probes, resources and no root."""
    resources: list[Resource] = request.getfixturevalue(rendering)
    [deployment] = find(resources, "Deployment", GATEWAY)
    pod = _pod_spec(deployment)
    gateway = _container(deployment, "gateway")
    assert gateway["args"] == ["gateway"]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _probe_port(gateway, "livenessProbe") == _probe_port(gateway, "readinessProbe") == 8080
    env = _env_sources(resources, gateway)
    assert env["JOURNEY_STITCHER_GATEWAY_HOST"] == "0.0.0.0"
    assert env["JOURNEY_STITCHER_GATEWAY_PORT"] == "8080"
    assert "JOURNEY_STITCHER_PEPPER" not in env  # the gateway hashes nothing
    assert {"cpu", "memory"} <= set(gateway["resources"]["requests"])
    assert "memory" in gateway["resources"]["limits"]
    assert pod["terminationGracePeriodSeconds"] >= 10
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert gateway["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_each_deployment_has_a_disruption_budget_and_a_service(rendering: str,
                                                               request: pytest.FixtureRequest) -> None:
    """Every Deployment's pods have one PodDisruptionBudget that allows an eviction, and one Service."""
    resources: list[Resource] = request.getfixturevalue(rendering)
    for deployment in find(resources, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        budgets = [b for b in find(resources, "PodDisruptionBudget")
                   if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(budgets) == 1, deployment["metadata"]["name"]
        budget = budgets[0]["spec"]
        if "maxUnavailable" in budget:
            assert budget["maxUnavailable"] >= 1  # a drain can proceed
        else:
            assert budget["minAvailable"] < deployment["spec"]["replicas"]
        services = [s for s in find(resources, "Service") if s["spec"]["selector"].items() <= labels.items()]
        assert len(services) == 1, deployment["metadata"]["name"]
        port_names = {p["name"] for c in _pod_spec(deployment)["containers"] for p in c.get("ports", [])}
        for port in services[0]["spec"]["ports"]:
            assert port["targetPort"] in port_names


# --- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_secrets_are_only_referenced(rendering: str, request: pytest.FixtureRequest) -> None:
    """Secret variables come from secretKeyRef, never from a literal value or a ConfigMap."""
    resources: list[Resource] = request.getfixturevalue(rendering)
    seen = set()
    for deployment in find(resources, "Deployment"):
        for container in _pod_spec(deployment)["containers"]:
            for variable in container.get("env", []):
                if variable["name"] in SECRET_VARIABLES:
                    assert "value" not in variable, variable["name"]
                    assert "secretKeyRef" in variable["valueFrom"], variable["name"]
                    seen.add(variable["name"])
    assert {"JOURNEY_STITCHER_PEPPER", "REDIS_URL"} <= seen
    for config_map in find(resources, "ConfigMap"):
        assert not SECRET_VARIABLES & set(config_map["data"]), config_map["metadata"]["name"]


def test_base_secret_is_an_empty_placeholder(base_resources: list[Resource]) -> None:
    """The base Secret holds no secret: the pepper and the credentials are empty placeholders."""
    [secret] = find(base_resources, "Secret")
    assert "data" not in secret  # base64 would hide what is in it
    values = secret["stringData"]
    for key in ("JOURNEY_STITCHER_PEPPER", "JOURNEY_STITCHER_KAFKA_SASL_USERNAME",
                "JOURNEY_STITCHER_KAFKA_SASL_PASSWORD"):
        assert values[key] == "", key
    assert "@" not in values["REDIS_URL"]  # no credentials in the placeholder URL


def test_base_secret_references_resolve(base_resources: list[Resource]) -> None:
    """Every required secretKeyRef of the base names a key of the Secret it renders."""
    secrets = {s["metadata"]["name"]: s for s in find(base_resources, "Secret")}
    for path, node in _walk(base_resources):
        if isinstance(node, dict) and "secretKeyRef" in node and not node["secretKeyRef"].get("optional"):
            reference = node["secretKeyRef"]
            assert reference["key"] in secrets[reference["name"]]["stringData"], path


def test_production_applies_no_secret(production_resources: list[Resource]) -> None:
    """The production overlay never applies a Secret: the placeholder is deleted, real ones live elsewhere."""
    assert not find(production_resources, "Secret")
    referenced = {node["secretKeyRef"]["name"] for _, node in _walk(production_resources)
                  if isinstance(node, dict) and "secretKeyRef" in node}
    referenced |= {node["secret"]["secretName"] for _, node in _walk(production_resources)
                   if isinstance(node, dict) and isinstance(node.get("secret"), dict)}
    referenced |= {ref["name"] for a in find(production_resources, "TriggerAuthentication")
                   for ref in a["spec"]["secretTargetRef"]}
    assert referenced == {"journey-stitcher-secrets", "journey-stitcher-kafka-ca"}


# --- production overlay ---------------------------------------------------------------------


def test_production_overlay_is_namespaced_pinned_and_secured(production_resources: list[Resource]) -> None:
    """Production: one namespace under restricted Pod Security, pinned images, Kafka over SASL_SSL."""
    [namespace] = find(production_resources, "Namespace")
    name = namespace["metadata"]["name"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for resource in production_resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == name, resource["metadata"]["name"]
    for deployment in find(production_resources, "Deployment"):
        for container in _pod_spec(deployment)["containers"]:
            image = container["image"]
            assert "/" in image
            assert not image.endswith(":latest")
            assert ":" in image.rsplit("/", 1)[-1] or "@sha256:" in image
            env = _env_sources(production_resources, container)
            assert env["JOURNEY_STITCHER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
            assert env["JOURNEY_STITCHER_KAFKA_SASL_MECHANISM"].startswith("SCRAM-")
            ca_directory = str(Path(env["JOURNEY_STITCHER_KAFKA_SSL_CAFILE"]).parent)
            assert ca_directory in {m["mountPath"] for m in container["volumeMounts"]}
    [worker] = find(production_resources, "Deployment", WORKER)
    assert worker["spec"]["replicas"] >= 3


# --- the renderer itself --------------------------------------------------------------------


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
        - name: app
          image: "app:1"
          env: [{name: A, value: "1"}]
          volumeMounts: [{name: t, mountPath: /tmp}]
      volumes: [{name: t, emptyDir: {}}]
"""


def test_renderer_merges_lists_by_key_and_deletes(tmp_path: Path) -> None:
    """Strategic merge joins containers, env and mounts by key; `$patch: delete` removes a resource."""
    _write(tmp_path, {
        "kustomization.yaml": "resources: [app.yaml, secret.yaml]\nnamespace: ns\n"
                              "images: [{name: app, newName: registry/app, newTag: '2'}]\n"
                              "patches: [{path: patch.yaml}, {path: delete.yaml}]\n",
        "app.yaml": DEPLOYMENT,
        "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
        "patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  template:\n"
                      "    spec:\n      containers:\n        - name: app\n"
                      "          env: [{name: B, value: '2'}]\n"
                      "          volumeMounts: [{name: c, mountPath: /c}]\n",
        "delete.yaml": "$patch: delete\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
    })
    [deployment] = build(tmp_path)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry/app:2"
    assert {e["name"] for e in container["env"]} == {"A", "B"}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", "/c"}
    assert deployment["metadata"]["namespace"] == "ns"


def test_renderer_applies_json_patches_and_refuses_unknown_features(tmp_path: Path) -> None:
    """JSON 6902 operations apply to their target; a kustomization field it does not implement is an error."""
    _write(tmp_path, {
        "kustomization.yaml": "resources: [app.yaml]\npatches:\n  - target: {kind: Deployment, name: app}\n"
                              "    patch: '[{op: add, path: /spec/replicas, value: 3}]'\n",
        "app.yaml": DEPLOYMENT,
    })
    [deployment] = build(tmp_path)
    assert deployment["spec"]["replicas"] == 3
    (tmp_path / "kustomization.yaml").write_text("resources: [app.yaml]\ncommonLabels: {a: b}\n",
                                                 encoding="utf-8")
    with pytest.raises(KustomizeError, match="commonLabels"):
        build(tmp_path)


def test_kustomizations_use_no_unsupported_kustomize_feature() -> None:
    """Both kustomizations render with the strict renderer (it refuses any feature it would get wrong)."""
    assert build(BASE)
    assert build(PRODUCTION)
