"""A trial's workload made ready to create: its name, namespace, Katib's labels on the
object and on every pod template it holds (so the trial's pods carry them as Katib's
webhook makes them carry them), and the owner reference to its Experiment. Pure: edits
the given copy."""

from __future__ import annotations

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
