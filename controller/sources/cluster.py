"""Experiments as the cluster holds them: an Experiment object read into the model,
Katib's defaults applied and every rule of `hpo-gen validate` checked (an object may have
been applied by hand, not rendered), and the ConfigMaps its trial template names read
from the API."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from controller.core.trialspec import ConfigMaps
from controller.errors import ControllerError
from controller.kube.api import Kube, Resource
from generator.katib.models import Experiment
from generator.validation.admission import validate_experiment

CONFIG_MAPS = Resource.of("v1", "ConfigMap")


class InvalidExperiment(ControllerError):
    """An Experiment object that hpo-controller will not run; the message says why."""


def experiment_of(body: dict[str, Any]) -> Experiment:
    """The object's spec as a validated Experiment (name and namespace the object's)."""
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
    try:
        parsed = Experiment.model_validate(wire)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidExperiment(
            f"{len(err.errors())} problem(s) in its spec; the first: {where}: {first['msg']}"
        ) from err
    defaulted, problems = validate_experiment(parsed)
    if problems:
        shown = "; ".join(f"{'.'.join(map(str, p.path))}: {p.message}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InvalidExperiment(f"{len(problems)} problem(s): {shown}{more}")
    return defaulted


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
