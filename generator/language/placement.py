"""What an environment makes of the experiments in `spec/`: which of them it takes, and
each one as it runs there (its budget, images, resources, labels, annotations, namespace
and hashed name). The overlay renders the same differences as kustomize patches and
transformers over `base/`; a test builds both and compares them."""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterator, Sequence
from typing import Any

from generator.files import yamlio
from generator.katib.base import Manifest
from generator.katib.identity import NAME_LABEL, object_name
from generator.katib.models import Experiment
from generator.language.configmaps import TrialTemplates
from generator.language.environments import Budget, Environment, Image, Resources

# Argo CD never deletes an Experiment on its own (a rename prunes the old name): its
# trials and their metrics would go with it.
PROTECTED = {"argocd.argoproj.io/sync-options": "Prune=confirm,Delete=confirm"}
# kustomize's images transformer finds the containers of a trialSpec at these fields.
CONTAINER_FIELDS = ("containers", "initContainers")


def chosen(env: Environment, experiments: Sequence[Experiment]) -> list[Experiment]:
    """The experiments the environment takes: those it names or its patterns match."""
    return [e for e in experiments if any(_matches(p, e.name) for p in env.experiments)]


def unmatched(env: Environment, names: Sequence[str]) -> list[tuple[int, str]]:
    """(index, pattern) of each entry of `experiments=` that takes no experiment."""
    return [
        (index, pattern)
        for index, pattern in enumerate(env.experiments)
        if not any(_matches(pattern, name) for name in names)
    ]


def _matches(pattern: str, name: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)


def based(experiment: Experiment) -> Experiment:
    """The Experiment as `base/` holds it: its hashed object name, its name label and
    Argo CD's word not to prune it unasked."""
    wire = experiment.to_wire()
    metadata = wire["metadata"]
    metadata["labels"] = {**(metadata.get("labels") or {}), NAME_LABEL: experiment.name}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **PROTECTED}
    return _renamed(Experiment.model_validate(wire))


def placed(env: Environment, experiment: Experiment) -> Experiment:
    """The Experiment as the environment runs it; renamed when an override changed the
    part of its spec Katib never updates."""
    wire = copy.deepcopy(based(experiment).to_wire())
    spec = wire["spec"]
    spec.update(effective_budget(env, experiment.name).to_wire())
    primary = (spec.get("trialTemplate") or {}).get("primaryContainerName")
    trial_spec = (spec.get("trialTemplate") or {}).get("trialSpec")
    if isinstance(trial_spec, dict):
        dress_containers(trial_spec, env, {primary} if primary else set())
    source = (spec.get("trialTemplate") or {}).get("configMap")
    if isinstance(source, dict):
        # kustomize moves the ConfigMap into the environment's namespace: look there.
        source["configMapNamespace"] = env.namespace
    metadata = wire["metadata"]
    metadata["namespace"] = env.namespace
    if env.labels:
        metadata["labels"] = {**metadata.get("labels", {}), **env.labels}
    if env.annotations:
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **env.annotations}
    return _renamed(Experiment.model_validate(wire))


def _renamed(experiment: Experiment) -> Experiment:
    logical = experiment.metadata.labels[NAME_LABEL] if experiment.metadata.labels else ""
    logical = logical or experiment.name
    named = experiment.model_copy(
        update={"metadata": experiment.metadata.model_copy(update={"name": logical})}
    )
    hashed = object_name(named)
    return experiment.model_copy(
        update={"metadata": experiment.metadata.model_copy(update={"name": hashed})}
    )


def effective_budget(env: Environment, name: str) -> Budget:
    """The environment's budget for one experiment: its own entry over the common one."""
    merged: dict[str, int] = {}
    for layer in (env.budget, env.budgets.get(name)):
        if layer is not None:
            merged.update({k: v for k, v in layer.model_dump().items() if v is not None})
    return Budget(**merged)


def dress_containers(manifest: Manifest, env: Environment, primary: set[str]) -> None:
    """Apply the environment's images to every container of a trial manifest, and its
    resources to the primary containers (in place)."""
    for container in containers(manifest):
        image = container.get("image")
        if isinstance(image, str):
            container["image"] = rewrite_image(image, env.images)
        if env.resources is not None and container.get("name") in primary:
            container["resources"] = merged_resources(container.get("resources"), env.resources)


def containers(value: Any) -> Iterator[dict[str, Any]]:
    """Every container of a manifest, wherever its pod templates lie."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CONTAINER_FIELDS and isinstance(item, list):
                yield from (c for c in item if isinstance(c, dict))
            else:
                yield from containers(item)
    elif isinstance(value, list):
        for item in value:
            yield from containers(item)


def merged_resources(current: Any, override: Resources) -> dict[str, Any]:
    merged: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    for field in ("requests", "limits"):
        values = getattr(override, field)
        if values:
            old = merged.get(field)
            merged[field] = {**(old if isinstance(old, dict) else {}), **values}
    return merged


def split_image(image: str) -> tuple[str, str]:
    """An image reference as (name, suffix): the suffix is ':tag', '@digest' or ''."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def rewrite_image(image: str, images: Sequence[Image]) -> str:
    """What kustomize's `images:` transformer makes of one container's image."""
    name, suffix = split_image(image)
    for override in images:
        if override.name != name:
            continue
        if override.digest:
            suffix = "@" + override.digest
        elif override.new_tag:
            suffix = ":" + override.new_tag
        return (override.new_name or name) + suffix
    return image


def placed_templates(
    env: Environment, templates: TrialTemplates, primary: set[str]
) -> dict[str, str]:
    """The texts of a trial-template ConfigMap as the environment runs them, by key: those
    its images or resources change (kustomize cannot reach inside a ConfigMap's text)."""
    changed = {}
    for key, text in templates.templates.items():
        try:
            manifest = yamlio.load(text, data=True)
        except yamlio.YAMLError:
            continue  # not a manifest: validation says so
        if not isinstance(manifest, dict):
            continue
        before = copy.deepcopy(manifest)
        dress_containers(manifest, env, primary)
        if manifest != before:
            changed[key] = yamlio.dump(manifest)
    return changed
