"""Trial templates kept in a ConfigMap, declared in a spec: Katib reads a ConfigMap-sourced
template from the cluster when it admits the Experiment and again for every trial, so the
ConfigMap is rendered into each overlay that runs an experiment using it."""

from __future__ import annotations

from collections.abc import Mapping

from generator.files import yamlio
from generator.files.origin import caller_origin
from generator.katib.base import KatibModel, Manifest

TRIAL_TEMPLATE_LABEL = {"katib.kubeflow.org/component": "trial-templates"}


class TrialTemplates(KatibModel):
    """A ConfigMap of trial templates: its name and `templates` (key -> template text)."""

    name: str
    templates: dict[str, str]

    def manifest(self, namespace: str | None = None) -> Manifest:
        metadata: Manifest = {"name": self.name, "labels": dict(TRIAL_TEMPLATE_LABEL)}
        if namespace is not None:
            metadata["namespace"] = namespace
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": self.templates,
        }


def trial_templates(name: str, templates: Mapping[str, Manifest | str]) -> TrialTemplates:
    """Trial templates by key; a manifest is stored as YAML text, as Katib expects."""
    data = {
        key: value if isinstance(value, str) else yamlio.dump(value)
        for key, value in templates.items()
    }
    return TrialTemplates(name=name, templates=data).located(caller_origin())
