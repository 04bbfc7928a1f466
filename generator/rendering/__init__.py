"""Rendering validated specs into the kustomize tree under `overlays/`: a base per
Experiment, an overlay per environment that patches the bases it takes, the in-cluster
controller's manifests, the CRDs as their own cluster-scoped layer and what Argo CD needs.
Pure: returns file paths and texts; byte-for-byte the same for the same specs, on any
machine and under any hash seed."""

from __future__ import annotations

from generator.katib.repository import BASE_FOLDER, TEMPLATES_FOLDER
from generator.language.configmaps import TrialTemplates
from generator.language.placement import based_wire, chosen
from generator.rendering.argocd import argocd_layer
from generator.rendering.cluster import cluster_layers
from generator.rendering.common import KUSTOMIZATION, RENDER_COMMAND, RenderedTree, dump, header
from generator.rendering.overlays import (
    CONTROLLER_CONFIG,
    METRICS_COLLECTOR_LABEL,
    environment_overlay,
)
from generator.specset import SpecSet

__all__ = [
    "CONTROLLER_CONFIG",
    "KUSTOMIZATION",
    "METRICS_COLLECTOR_LABEL",
    "RENDER_COMMAND",
    "RenderedTree",
    "environment_summary",
    "render",
]


def render(specs: SpecSet) -> RenderedTree:
    """Every file of `overlays/` for a validated spec set."""
    tree: RenderedTree = {}
    bases = {e.name: based_wire(e) for e in specs.experiments}
    for experiment in specs.experiments:
        source = specs.modules.get(experiment.name, "spec/")
        folder = f"{BASE_FOLDER}/{experiment.name}"
        text = header(source)
        tree[f"{folder}/experiment.yaml"] = dump(bases[experiment.name], text)
        tree[f"{folder}/kustomization.yaml"] = dump(
            {**KUSTOMIZATION, "resources": ["experiment.yaml"]}, text
        )
    for templates in specs.trial_templates:
        tree.update(_templates(templates))
    for env in specs.environments:
        tree.update(environment_overlay(env, specs, bases))
    tree.update(cluster_layers(specs))
    tree.update(argocd_layer(specs))
    return dict(sorted(tree.items()))


def environment_summary(specs: SpecSet) -> list[str]:
    """A line per environment: where it runs and the experiments it takes."""
    lines = []
    for env in specs.environments:
        taken = [e.name for e in chosen(env, specs.experiments)]
        where = {"local": "this machine", "cluster": "hpo-controller in the cluster"}.get(
            env.executor, "Katib in the cluster"
        )
        lines.append(
            f"  {env.name} (namespace {env.namespace}, {where}): {len(taken)} "
            f"experiment{'s' if len(taken) != 1 else ''}: {', '.join(taken) or 'none'}"
        )
    return lines


def _templates(templates: TrialTemplates) -> RenderedTree:
    folder = f"{TEMPLATES_FOLDER}/{templates.name}"
    text = header(f"spec/ (trial templates {templates.name!r})")
    return {
        f"{folder}/configmap.yaml": dump(templates.manifest(), text),
        f"{folder}/kustomization.yaml": dump(
            {**KUSTOMIZATION, "resources": ["configmap.yaml"]}, text
        ),
    }
