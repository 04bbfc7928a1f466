"""What an environment makes of the experiments in `spec/`: which of them it takes, and
each one as it runs there (its budget, images, resources, labels, annotations, namespace
and hashed name). The overlay renders the same differences as kustomize patches and
transformers over `base/`; a test builds both and compares them."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from typing import Any

from generator.files import yamlio
from generator.katib.base import Manifest
from generator.katib.identity import NAME_LABEL, wire_object_name
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
    return Experiment.model_validate(based_wire(experiment))


def placed(env: Environment, experiment: Experiment) -> Experiment:
    """The Experiment as the environment runs it; renamed when an override changed the
    part of its spec Katib never updates."""
    return Experiment.model_validate(placed_wire(env, experiment.name, based_wire(experiment)))


def based_wire(experiment: Experiment) -> Manifest:
    """`based`, on the wire."""
    wire = experiment.to_wire()
    metadata = wire["metadata"]
    metadata["labels"] = {**(metadata.get("labels") or {}), NAME_LABEL: experiment.name}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **PROTECTED}
    metadata["name"] = wire_object_name(experiment.name, wire["spec"])
    return wire


def placed_wire(env: Environment, name: str, base: Manifest) -> Manifest:
    """`placed`, on the wire: from the experiment's own name and its base manifest (left
    as it is)."""
    wire: Manifest = _copied(base)
    spec = wire["spec"]
    spec.update(effective_budget(env, name).to_wire())
    template = spec.get("trialTemplate") or {}
    primary = template.get("primaryContainerName")
    trial_spec = template.get("trialSpec")
    if isinstance(trial_spec, dict) and (env.images or env.resources is not None):
        dress_containers(trial_spec, env, {primary} if primary else set())
    source = template.get("configMap")
    if isinstance(source, dict):
        # kustomize moves the ConfigMap into the environment's namespace: look there.
        source["configMapNamespace"] = env.namespace
    metadata = wire["metadata"]
    metadata["namespace"] = env.namespace
    if env.labels:
        metadata["labels"] = {**metadata.get("labels", {}), **env.labels}
    if env.annotations:
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **env.annotations}
    metadata["name"] = wire_object_name(name, spec)
    return wire


def _copied(value: Any) -> Any:
    """A copy of a wire manifest (dicts, lists and scalars): deepcopy's result, faster."""
    if type(value) is dict:
        return {key: _copied(item) for key, item in value.items()}
    if type(value) is list:
        return [_copied(item) for item in value]
    return value


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
        name = container.get("name")
        if env.resources is not None and isinstance(name, str) and name in primary:
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
    """An image reference as (name, suffix): the suffix is ':tag', '@digest', both, or ''
    (a registry's port is part of the name)."""
    reference, at, digest = image.partition("@")
    suffix = at + digest
    colon = reference.rfind(":")
    if colon > reference.rfind("/"):
        return reference[:colon], reference[colon:] + suffix
    return reference, suffix


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
        before = _copied(manifest)
        dress_containers(manifest, env, primary)
        if manifest != before:
            changed[key] = yamlio.dump(manifest)
    return changed
