"""A trial's workload made ready to create: its name, namespace, Katib's labels on the
object and on every pod template it holds (so the trial's pods carry them as Katib's
webhook makes them carry them), and the owner reference to its Experiment. Pure: edits
the given copy."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

Manifest = dict[str, Any]


def label_workload(
    manifest: Manifest,
    *,
    trial: str,
    namespace: str,
    labels: Mapping[str, str],
    owner: Mapping[str, Any] | None,
) -> Manifest:
    metadata = manifest.setdefault("metadata", {})
    metadata.pop("generateName", None)
    metadata["name"] = trial
    metadata["namespace"] = namespace
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    if owner is not None:
        owned = owner.get("metadata") or {}
        reference = {
            "apiVersion": owner.get("apiVersion"),
            "kind": owner.get("kind"),
            "name": owned.get("name"),
            "uid": owned.get("uid"),
            "controller": True,
            "blockOwnerDeletion": True,
        }
        metadata["ownerReferences"] = [
            *[r for r in metadata.get("ownerReferences") or [] if r.get("uid") != reference["uid"]],
            reference,
        ]
    for template in pod_templates(manifest):
        pod_metadata = template.setdefault("metadata", {})
        pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **labels}
    if manifest.get("kind") == "Workflow":  # Argo: labels for every pod of the workflow
        spec = manifest.setdefault("spec", {})
        pod_metadata = spec.setdefault("podMetadata", {})
        pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **labels}
    return manifest


def pod_templates(node: Any) -> Iterator[dict[str, Any]]:
    """Every PodTemplateSpec inside the object: a `template` whose spec has containers
    (a Job's, each replica's of a Kubeflow job, a JobSet's)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if (
                key == "template"
                and isinstance(value, dict)
                and isinstance(value.get("spec"), dict)
                and isinstance(value["spec"].get("containers"), list)
            ):
                yield value
            else:
                yield from pod_templates(value)
    elif isinstance(node, list):
        for item in node:
            yield from pod_templates(item)


def primary_selector(trial_label: str, trial: str, primary_labels: Mapping[str, str]) -> str:
    """The label selector of the trial's primary pods."""
    terms = {trial_label: trial, **primary_labels}
    return ",".join(f"{key}={value}" for key, value in sorted(terms.items()))


def add_environment(manifest: Manifest, variables: Mapping[str, str]) -> Manifest:
    """`variables` in the environment of every container the object holds (a pod
    template's containers and init containers, an Argo template's `container` or
    `script`, a Tekton step): each a mapping with an `image`. A variable of the same name
    the template set is replaced."""
    for container in _containers(manifest):
        kept = [
            item
            for item in container.get("env") or []
            if not (isinstance(item, dict) and item.get("name") in variables)
        ]
        container["env"] = [*kept, *({"name": k, "value": v} for k, v in variables.items())]
    return manifest


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("image"), str):
            yield node
            return
        for value in node.values():
            yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


RELAY_CONTAINER = "hpo-metrics-relay"
RELAY_VOLUME = "hpo-metrics"
RELAY_STATE = "hpo-relay-work"  # the relay's own writable folder (its root is read-only)
RELAY_READY = "/work/relay-ready"  # made once it runs: its startup probe waits for it


def add_relay(
    manifest: Manifest,
    *,
    primary: str,
    image: str,
    kind: str,
    path: str,
    metrics: list[str],
) -> int:
    """The metrics relay (`hpo-controller relay`) as a native sidecar (an init container
    that keeps running, Kubernetes 1.29 and later) in every pod template whose primary
    container is there (`primary`; empty: the first container), sharing with that
    container the folder the metrics are written in: the volume the template mounts there,
    else an emptyDir of its own. A startup probe holds the pod's containers back until
    the relay runs. How many pod templates got one."""
    folder = path.rstrip("/") if kind == "TensorFlowEvent" else posixpath.dirname(path)
    args = ["relay", "--kind", kind, "--path", path, "--ready", RELAY_READY]
    for metric in metrics:
        args += ["--metric", metric]
    changed = 0
    for template in pod_templates(manifest):
        spec = template["spec"]
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        container = next((c for c in containers if not primary or c.get("name") == primary), None)
        if container is None:
            continue
        mounts = container.setdefault("volumeMounts", [])
        volume = next(
            (m.get("name") for m in mounts if isinstance(m, dict) and m.get("mountPath") == folder),
            None,
        )
        if volume is None:
            volume = RELAY_VOLUME
            mounts.append({"name": volume, "mountPath": folder})
            volumes = [v for v in spec.get("volumes") or [] if v.get("name") != volume]
            spec["volumes"] = [*volumes, {"name": volume, "emptyDir": {}}]
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") != RELAY_STATE]
        spec["volumes"] = [*volumes, {"name": RELAY_STATE, "emptyDir": {}}]
        sidecar = {
            "name": RELAY_CONTAINER,
            "image": image,
            "args": args,
            "restartPolicy": "Always",
            "startupProbe": {
                "exec": {"command": ["test", "-e", RELAY_READY]},
                "periodSeconds": 1,
                "failureThreshold": 120,
            },
            "volumeMounts": [
                {"name": volume, "mountPath": folder, "readOnly": True},
                {"name": RELAY_STATE, "mountPath": posixpath.dirname(RELAY_READY)},
            ],
            "resources": {
                "requests": {"cpu": "10m", "memory": "64Mi"},
                "limits": {"memory": "256Mi"},
            },
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
        }
        others = [c for c in spec.get("initContainers") or [] if c.get("name") != RELAY_CONTAINER]
        spec["initContainers"] = [*others, sidecar]
        changed += 1
    return changed
