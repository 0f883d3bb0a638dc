"""A small, strict kustomize renderer: enough of `kustomize build` for deploy/k8s, in Python.

No kustomize binary is installable from the project's package sources (Debian has none; its
`kubernetes-client` ships a 2019 kubectl), so the deploy tests render the kustomizations
themselves. This module implements exactly the kustomization features deploy/k8s uses and
refuses everything else with `KustomizeError`, so a kustomization that starts using a new
feature fails loudly here instead of being rendered wrongly:

* `resources`: YAML files (one or more documents) and directories holding a kustomization;
* `namespace`: set on every namespaced resource;
* `images`: `name` with `newName` / `newTag` / `digest`, applied to pod-template containers;
* `patches`: by `path` or inline `patch`, either a strategic-merge patch (a mapping, targeted by
  its own apiVersion/kind/name unless `target` says otherwise; `$patch: delete` deletes the
  resource) or a JSON 6902 patch (a list of `add` / `replace` / `remove`, needs `target`);
* `configMapGenerator`: `files` and `literals`, `options.disableNameSuffixHash: true` (name
  hashing is not implemented) and `options.labels` / `options.annotations`.

Strategic merge follows Kubernetes' merge keys for the list fields of built-in kinds that the
patches touch (containers and env by `name`, volumeMounts by `mountPath`, ...); custom resources
get JSON merge-patch semantics (lists replaced), as kustomize does for kinds it has no schema for.
The result matches `kubectl kustomize` up to the order of resources and of merged list items.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KustomizeError", "Resource", "build", "find", "resource_id"]

Resource = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset({
    "apiVersion", "kind", "resources", "namespace", "images", "patches", "configMapGenerator",
})
# Kinds that are not namespaced (among those a deployment like this one may contain).
CLUSTER_SCOPED = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "ClusterTriggerAuthentication",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
})
# API groups whose kinds Kubernetes defines itself (strategic merge applies to them).
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
})
# patchMergeKey of the list fields of built-in kinds (k8s.io/api): a list not named here is
# replaced by the patch's list.
MERGE_KEYS: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "conditions": "type",
}
# `ports` merges by containerPort in a pod's containers and by port in a Service.
PORTS_MERGE_KEY = {"Service": "port"}
POD_TEMPLATE_PATHS = (
    ("spec", "template", "spec"),  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job
    ("spec", "jobTemplate", "spec", "template", "spec"),  # CronJob
    ("spec",),  # Pod
)


class KustomizeError(Exception):
    """The kustomization uses something this renderer does not implement, or is invalid."""


def build(directory: Path | str) -> list[Resource]:
    """The resources `kustomize build DIRECTORY` would output (order not significant)."""
    return _build(Path(directory).resolve(), stack=())


def resource_id(resource: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name): what identifies a resource in a kustomization."""
    group = _group(resource.get("apiVersion", ""))
    meta = resource.get("metadata") or {}
    return group, resource.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")


def find(resources: Iterable[Resource], kind: str, name: str | None = None) -> list[Resource]:
    """The resources of `kind` (and `name`, when given)."""
    return [r for r in resources
            if r.get("kind") == kind and (name is None or r["metadata"]["name"] == name)]


# --- building -------------------------------------------------------------------------------


def _build(directory: Path, stack: tuple[Path, ...]) -> list[Resource]:
    if directory in stack:
        raise KustomizeError(f"{directory}: cycle of kustomizations")
    kustomization = _read_kustomization(directory)
    unsupported = sorted(set(kustomization) - SUPPORTED_FIELDS)
    if unsupported:
        raise KustomizeError(f"{directory}: unsupported kustomization fields {unsupported}")

    resources: list[Resource] = []
    for entry in _strings(kustomization, "resources", directory):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(_build(path, (*stack, directory)))
        elif path.is_file():
            resources.extend(_load_documents(path))
        else:
            raise KustomizeError(f"{directory}: resource {entry!r} does not exist")
    for generator in kustomization.get("configMapGenerator") or []:
        resources.append(_generate_config_map(directory, generator))
    _check_unique(resources, directory)

    for patch in kustomization.get("patches") or []:
        resources = _apply_patch(directory, patch, resources)
    namespace = kustomization.get("namespace")
    if namespace is not None:
        for resource in resources:
            if resource.get("kind") not in CLUSTER_SCOPED:
                resource.setdefault("metadata", {})["namespace"] = namespace
    for image in kustomization.get("images") or []:
        _apply_image(image, resources, directory)
    _check_unique(resources, directory)
    return resources


def _read_kustomization(directory: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(document, dict):
                raise KustomizeError(f"{path}: not a mapping")
            kind = document.get("kind", "Kustomization")
            if kind != "Kustomization":
                raise KustomizeError(f"{path}: kind {kind!r} is not supported")
            return document
    raise KustomizeError(f"{directory}: no kustomization.yaml")


def _strings(document: Mapping[str, Any], key: str, where: Path) -> list[str]:
    values = document.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise KustomizeError(f"{where}: {key} must be a list of strings")
    return values


def _load_documents(path: Path) -> list[Resource]:
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for document in documents:
        if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
            raise KustomizeError(f"{path}: every document must be a resource with apiVersion and kind")
        if document["kind"].endswith("List"):
            raise KustomizeError(f"{path}: List resources are not supported")
        if not (document.get("metadata") or {}).get("name"):
            raise KustomizeError(f"{path}: a {document['kind']} has no metadata.name")
    return documents


def _check_unique(resources: list[Resource], where: Path) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for resource in resources:
        rid = resource_id(resource)
        if rid in seen:
            raise KustomizeError(f"{where}: resource {rid} appears twice")
        seen.add(rid)


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


# --- configMapGenerator ---------------------------------------------------------------------


def _generate_config_map(directory: Path, generator: Mapping[str, Any]) -> Resource:
    allowed = {"name", "files", "literals", "options", "namespace"}
    if set(generator) - allowed:
        raise KustomizeError(f"{directory}: configMapGenerator fields {sorted(set(generator) - allowed)} "
                             "are not supported")
    options = generator.get("options") or {}
    if set(options) - {"disableNameSuffixHash", "labels", "annotations"}:
        raise KustomizeError(f"{directory}: configMapGenerator options {sorted(options)} not supported")
    if options.get("disableNameSuffixHash") is not True:
        raise KustomizeError(f"{directory}: configMapGenerator {generator.get('name')!r}: name "
                             "hashing is not implemented; set options.disableNameSuffixHash: true")
    data: dict[str, str] = {}
    for entry in generator.get("files") or []:
        key, _, file_name = entry.rpartition("=")
        path = (directory / file_name).resolve()
        if not path.is_relative_to(directory):
            raise KustomizeError(f"{directory}: {file_name} is outside the kustomization root")
        data[key or path.name] = path.read_text(encoding="utf-8")
    for entry in generator.get("literals") or []:
        key, sep, value = entry.partition("=")
        if not sep:
            raise KustomizeError(f"{directory}: literal {entry!r} is not KEY=VALUE")
        data[key] = value
    metadata: dict[str, Any] = {"name": generator["name"]}
    if generator.get("namespace"):
        metadata["namespace"] = generator["namespace"]
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    if options.get("annotations"):
        metadata["annotations"] = dict(options["annotations"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


# --- images ---------------------------------------------------------------------------------


def _split_image(image: str) -> tuple[str, str, str]:
    """(name, ":tag" or "", "@digest" or "")."""
    name, at, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon:]
    return name, tag, at + digest


def _apply_image(image: Mapping[str, Any], resources: list[Resource], where: Path) -> None:
    if set(image) - {"name", "newName", "newTag", "digest"}:
        raise KustomizeError(f"{where}: images fields {sorted(image)} are not supported")
    for container in _containers(resources):
        name, tag, digest = _split_image(container.get("image", ""))
        if name != image["name"]:
            continue
        if "newName" in image:
            name = image["newName"]
        if "newTag" in image:
            tag, digest = ":" + str(image["newTag"]), ""
        if "digest" in image:
            tag, digest = "", "@" + image["digest"]
        container["image"] = name + tag + digest


def _containers(resources: Iterable[Resource]) -> Iterator[dict[str, Any]]:
    for resource in resources:
        for path in POD_TEMPLATE_PATHS:
            node: Any = resource
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and "containers" in node:
                for field in ("initContainers", "containers"):
                    yield from node.get(field) or []
                break


# --- patches --------------------------------------------------------------------------------


def _apply_patch(directory: Path, entry: Mapping[str, Any], resources: list[Resource]) -> list[Resource]:
    if set(entry) - {"path", "patch", "target"} or ("path" in entry) == ("patch" in entry):
        raise KustomizeError(f"{directory}: a patch needs exactly one of path / patch (and an "
                             f"optional target), not {sorted(entry)}")
    if "path" in entry:
        path = (directory / entry["path"]).resolve()
        if not path.is_file():
            raise KustomizeError(f"{directory}: patch {entry['path']!r} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        text = entry["patch"]
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(documents) != 1:
        raise KustomizeError(f"{directory}: a patch must be one YAML document")
    patch = documents[0]
    target = entry.get("target")

    if isinstance(patch, list):  # JSON 6902
        if target is None:
            raise KustomizeError(f"{directory}: a JSON 6902 patch needs a target")
        matched = [r for r in resources if _matches(r, target, directory)]
        if not matched:
            raise KustomizeError(f"{directory}: patch target {target} matches no resource")
        for resource in matched:
            for operation in patch:
                _json6902(resource, operation, directory)
        return resources

    if not isinstance(patch, dict):
        raise KustomizeError(f"{directory}: a patch must be a mapping or a list of operations")
    if target is None:
        meta = patch.get("metadata") or {}
        target = {"kind": patch.get("kind"), "name": meta.get("name"),
                  "group": _group(patch.get("apiVersion", ""))}
        if not target["kind"] or not target["name"]:
            raise KustomizeError(f"{directory}: a strategic-merge patch needs kind and metadata.name")
    matched = [r for r in resources if _matches(r, target, directory)]
    if not matched:
        raise KustomizeError(f"{directory}: patch target {target} matches no resource")
    result = []
    for resource in resources:
        if not any(resource is m for m in matched):
            result.append(resource)
        elif patch.get("$patch") != "delete":
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
            body.setdefault("metadata", {}).pop("name", None)
            builtin = _group(resource["apiVersion"]) in BUILTIN_GROUPS
            result.append(_merge(resource, body, builtin, resource["kind"], directory))
    return result


def _matches(resource: Resource, target: Mapping[str, Any], where: Path) -> bool:
    if set(target) - {"group", "version", "kind", "name", "namespace"}:
        raise KustomizeError(f"{where}: patch target fields {sorted(target)} are not supported")
    api_version = resource.get("apiVersion", "")
    group = _group(api_version)
    version = api_version.rsplit("/", 1)[-1]
    meta = resource.get("metadata") or {}
    checks = {"group": group, "version": version, "kind": resource.get("kind"),
              "name": meta.get("name"), "namespace": meta.get("namespace", "")}
    for key, wanted in target.items():
        if wanted is None:
            continue
        if key == "group" and wanted == "" and group == "":
            continue
        if not re.fullmatch(str(wanted), str(checks[key] or "")):
            return False
    return True


def _merge(base: Any, patch: Any, builtin: bool, kind: str, where: Path, field: str = "") -> Any:
    """Strategic merge (built-in kinds) or JSON merge patch (custom resources)."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        if builtin and isinstance(patch, list) and isinstance(base, list):
            return _merge_list(base, patch, kind, where, field)
        return copy.deepcopy(patch)
    if "$patch" in patch:
        raise KustomizeError(f"{where}: $patch directives inside a resource are not supported")
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = _merge(merged[key], value, builtin, kind, where, key)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_list(base: list[Any], patch: list[Any], kind: str, where: Path, field: str) -> list[Any]:
    key = PORTS_MERGE_KEY.get(kind, "containerPort") if field == "ports" else MERGE_KEYS.get(field)
    if key is None or not all(isinstance(item, dict) for item in [*base, *patch]):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(base)
    added = []
    for item in patch:
        if key not in item:
            raise KustomizeError(f"{where}: an item of {field} in a patch has no {key}")
        for index, existing in enumerate(merged):
            if existing.get(key) == item[key]:
                merged[index] = _merge(existing, item, True, kind, where)
                break
        else:
            added.append(copy.deepcopy(item))
    return added + merged


def _pointer(path: str, where: Path) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"{where}: JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _json6902(resource: Resource, operation: Mapping[str, Any], where: Path) -> None:
    op = operation.get("op")
    if op not in ("add", "replace", "remove"):
        raise KustomizeError(f"{where}: JSON patch op {op!r} is not supported")
    *parents, last = _pointer(operation["path"], where)
    node: Any = resource
    for part in parents:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as error:
            raise KustomizeError(f"{where}: JSON patch path {operation['path']!r} does not exist "
                                 f"in {resource_id(resource)}") from error
    value = copy.deepcopy(operation.get("value"))
    if isinstance(node, list):
        if last == "-" and op == "add":
            node.append(value)
            return
        index = int(last)
        if op == "add":
            node.insert(index, value)
        elif index >= len(node):
            raise KustomizeError(f"{where}: JSON patch path {operation['path']!r} out of range")
        elif op == "replace":
            node[index] = value
        else:
            del node[index]
    elif isinstance(node, dict):
        if op != "add" and last not in node:
            raise KustomizeError(f"{where}: JSON patch {op} of missing {operation['path']!r}")
        if op == "remove":
            del node[last]
        else:
            node[last] = value
    else:
        raise KustomizeError(f"{where}: JSON patch path {operation['path']!r} goes through a scalar")
