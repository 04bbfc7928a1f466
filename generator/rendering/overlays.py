"""One environment's overlay: the bases it takes and, as kustomize patches and transformers
over them, what the environment changes: namespace, labels, annotations, images (reaching
the containers inside a trialSpec), budgets and trial resources (JSON patches), and the
new name when a change reaches the part of a spec Katib never updates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.files import yamlio
from generator.katib.base import Manifest
from generator.katib.models import Experiment
from generator.katib.repository import BASE_FOLDER, CONTROLLER_FOLDER, TEMPLATES_FOLDER
from generator.language.environments import DEFAULT_COMMIT_MESSAGE, Environment, GitOps
from generator.language.placement import (
    CONTAINER_FIELDS,
    chosen,
    placed_templates,
    placed_wire,
)
from generator.rendering.common import (
    KUSTOMIZATION,
    RenderedTree,
    dump,
    header,
    json_patch,
    pointer,
)
from generator.specset import SpecSet

METRICS_COLLECTOR_LABEL = "katib.kubeflow.org/metrics-collector-injection"
CONTROLLER_CONFIG = "hpo-controller"  # the ConfigMap hpo-controller reads its settings from
IMAGE_CONFIG = "kustomizeconfig.yaml"
_EXPERIMENT_TARGET = {"group": "kubeflow.org", "version": "v1beta1", "kind": "Experiment"}


def environment_overlay(
    env: Environment, specs: SpecSet, bases: Mapping[str, Manifest]
) -> RenderedTree:
    """`bases`: each experiment's base manifest, by its own name."""
    text = header(f"spec/ (environment {env.name!r})")
    taken = chosen(env, specs.experiments)
    used = {_config_map_name(e) for e in taken}
    templates = [t for t in specs.trial_templates if t.name in used]
    files: RenderedTree = {}
    resources = ["namespace.yaml"]
    controlled = runs_controller(env, specs.gitops)
    if env.executor != "katib" or controlled:
        resources.append("controller-config.yaml")
        files["controller-config.yaml"] = dump(controller_config(env, specs), text)
    if controlled:
        resources.append(f"../{CONTROLLER_FOLDER}")
    resources += [f"../{TEMPLATES_FOLDER}/{t.name}" for t in templates]
    resources += [f"../{BASE_FOLDER}/{e.name}" for e in taken]
    kustomization: Manifest = {**KUSTOMIZATION, "namespace": env.namespace, "resources": resources}
    if env.labels:
        pairs = dict(sorted(env.labels.items()))
        kustomization["labels"] = [{"pairs": pairs, "includeSelectors": False}]
    if env.annotations:
        kustomization["commonAnnotations"] = dict(sorted(env.annotations.items()))
    if env.images:
        kustomization["images"] = [_image_entry(i.to_wire()) for i in env.images]
        kustomization["configurations"] = [IMAGE_CONFIG]
        files[IMAGE_CONFIG] = dump(_image_fields(taken), text)
    patches = [p for e in taken if (p := _experiment_patch(env, e, bases[e.name]))]
    for template in templates:
        primary = {
            e.spec.trial_template.primary_container_name
            for e in taken
            if e.spec.trial_template is not None
            and e.spec.trial_template.primary_container_name
            and _config_map_name(e) == template.name
        }
        changed = placed_templates(env, template, primary)
        if changed:
            ops = [
                {"op": "replace", "path": pointer(("data", key)), "value": value}
                for key, value in sorted(changed.items())
            ]
            target = {"version": "v1", "kind": "ConfigMap", "name": template.name}
            patches.append({"target": target, "patch": _ops_text(ops)})
    if patches:
        kustomization["patches"] = patches
    files["kustomization.yaml"] = dump(kustomization, text)
    files["namespace.yaml"] = dump(namespace_manifest(env.namespace), text)
    return {f"{env.name}/{name}": value for name, value in files.items()}


def _experiment_patch(env: Environment, experiment: Experiment, base: Manifest) -> Manifest | None:
    """The JSON patch from the base to the environment's Experiment, but for what the
    namespace, labels, annotations and images transformers do."""
    unimaged = env.model_copy(update={"images": ()}) if env.images else env
    ops = json_patch(_spec_only(base), _spec_only(placed_wire(unimaged, experiment.name, base)))
    final = placed_wire(env, experiment.name, base)["metadata"]["name"]
    if final != base["metadata"]["name"]:
        ops.append({"op": "replace", "path": "/metadata/name", "value": final})
    if not ops:
        return None
    target = {**_EXPERIMENT_TARGET, "name": base["metadata"]["name"]}
    return {"target": target, "patch": _ops_text(ops)}


def _spec_only(wire: Manifest) -> Manifest:
    return {key: value for key, value in wire.items() if key != "metadata"}


def _ops_text(ops: list[dict[str, Any]]) -> str:
    # A patch is YAML text inside the kustomization: dumped by the same emitter, so every
    # value a spec wrote is escaped.
    return yamlio.dump_sequence(ops)


def _image_entry(wire: Mapping[str, Any]) -> dict[str, Any]:
    return {key: wire[key] for key in ("name", "newName", "newTag", "digest") if key in wire}


def _image_fields(experiments: list[Experiment]) -> Manifest:
    """kustomize's field specs for the images inside these Experiments' trialSpecs. Its
    built-in ones name the pod templates of core workloads; these name an Experiment's,
    so that the transformer reaches them whichever kustomize version builds the overlay."""
    paths: set[str] = set()
    for experiment in experiments:
        template = experiment.spec.trial_template
        if template is not None and isinstance(template.trial_spec, dict):
            paths |= _container_paths(template.trial_spec, "spec/trialTemplate/trialSpec")
    return {
        "images": [
            {"path": path, "kind": "Experiment", "group": "kubeflow.org"} for path in sorted(paths)
        ]
    }


def _container_paths(value: Any, at: str) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "/" in key:
                continue
            if key in CONTAINER_FIELDS and isinstance(item, list):
                found.add(f"{at}/{key}[]/image")
            elif isinstance(item, dict):
                found |= _container_paths(item, f"{at}/{key}")
    return found


def _config_map_name(experiment: Experiment) -> str | None:
    template = experiment.spec.trial_template
    source = template.config_map if template else None
    return source.config_map_name if source else None


def runs_controller(env: Environment, gitops: GitOps | None) -> bool:
    """Whether hpo-controller runs in the environment's namespace: to run its trials, or
    to mirror what Katib runs into git (which needs gitops)."""
    return env.executor == "cluster" or (env.executor == "katib" and gitops is not None)


def controller_config(env: Environment, specs: SpecSet) -> Manifest:
    """The settings hpo-controller reads for the environment; a cluster controller's
    git credentials are named here as a Secret, never given."""
    data = {
        "environment": env.name,
        "executor": env.executor,
        "warmStarts": "true" if env.warm_starts else "false",
        "results": env.results_to,
        "commitInterval": f"{env.commit_interval:g}",
    }
    if env.results_to == "status-branch" or env.protected_branches:
        data["statusBranch"] = env.results_branch
    if env.results is None and env.protected_branches:  # the default gives way to them
        data["protectedBranches"] = "".join(f"{b}\n" for b in env.protected_branches)
    if env.push_to is not None:
        data["push"] = env.push_to
    if env.commit_author is not None:
        data["commitAuthor"] = env.commit_author
    if env.commit_message != DEFAULT_COMMIT_MESSAGE:
        data["commitMessage"] = env.commit_message
    if env.commit_trailers:
        data["commitTrailers"] = "".join(
            f"{key}: {value}\n" for key, value in sorted(env.commit_trailers.items())
        )
    if runs_controller(env, specs.gitops) and specs.gitops is not None:
        data |= {
            "repository": specs.gitops.repository,
            "branch": specs.gitops.branch,
            "path": specs.gitops.path,
            "credentialsSecret": specs.gitops.credentials_secret,
        }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONTROLLER_CONFIG},
        "data": data,
    }


def namespace_manifest(name: str) -> Manifest:
    # Katib's admission webhook rejects Experiments in namespaces without this label.
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {METRICS_COLLECTOR_LABEL: "enabled"}},
    }
