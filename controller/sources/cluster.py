"""Experiments as the cluster holds them: an Experiment object read into the model,
Katib's defaults applied and every rule of `hpo-gen validate` checked (an object may have
been applied by hand, not rendered), and the ConfigMaps its trial template names read
from the API."""

from __future__ import annotations

from typing import Any

from controller.core.trialspec import ConfigMaps
from controller.errors import ControllerError
from controller.kube.api import Kube, Resource
from generator.importing.yamlspecs import YamlDocument, check_documents
from generator.katib.models import Experiment
from generator.problems import format_problems
from generator.validation.context import Context

CONFIG_MAPS = Resource.of("v1", "ConfigMap")


class InvalidExperiment(ControllerError):
    """An Experiment object that hpo-controller will not run; the message says why."""


def experiment_of(body: dict[str, Any]) -> Experiment:
    """The object's spec as a validated Experiment (name and namespace the object's),
    checked as `hpo-gen validate` checks a Katib YAML file: the schema, the model, every
    rule. What the server adds (uid, resourceVersion, status) is left out."""
    metadata = body.get("metadata") or {}
    wire = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "labels", "annotations")
            if key in metadata
        },
        "spec": body.get("spec") or {},
    }
    where = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    result = check_documents([YamlDocument(where, wire, {})], Context())
    if result.problems or not result.experiments:
        raise InvalidExperiment(format_problems(result.problems))
    return result.experiments[0]


def config_maps_for(kube: Kube, experiment: Experiment) -> ConfigMaps:
    """The ConfigMap the trial template names, read now (a trial template is read once per
    run, so an edit mid-run changes no trial, unlike Katib's read per trial)."""
    template = experiment.spec.trial_template
    source = template.config_map if template is not None else None
    if source is None or not source.config_map_name:
        return {}
    namespace = source.config_map_namespace or experiment.metadata.namespace or "default"
    body = kube.get(CONFIG_MAPS, namespace, source.config_map_name)
    if body is None:
        raise InvalidExperiment(
            f"its trial template is in ConfigMap {namespace}/{source.config_map_name}, "
            "which does not exist"
        )
    data = {str(k): str(v) for k, v in (body.get("data") or {}).items()}
    return {(source.config_map_namespace, source.config_map_name): data}
