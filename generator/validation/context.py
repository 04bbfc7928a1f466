"""What Katib's admission webhook reads from the cluster, supplied offline: the
ConfigMaps an Experiment's trial template may come from, and the names a katib-config
allows (algorithms, early stopping, collectors, trial kinds). By default the names are
the ones hpo-gen knows and trial kinds are not restricted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.katib.algorithms import ALGORITHM_NAMES, EARLY_STOPPING_ALGORITHMS

DEFAULT_COLLECTORS = frozenset({"StdOut", "File", "TensorFlowEvent", "Custom", "Push"})
# Collectors that need no katib-config entry: Push has no sidecar, Custom brings its own.
_UNCONFIGURED_COLLECTORS = frozenset({"Custom", "Push"})


@dataclass(frozen=True)
class Context:
    """config_maps: (namespace, name) -> data; trial_resources: `Kind.version.group`
    names from a katib-config, or None for no restriction."""

    config_maps: Mapping[tuple[str | None, str], Mapping[str, str]] = field(default_factory=dict)
    algorithm_names: frozenset[str] = ALGORITHM_NAMES
    early_stopping_names: frozenset[str] = EARLY_STOPPING_ALGORITHMS
    collector_kinds: frozenset[str] = DEFAULT_COLLECTORS
    trial_resources: frozenset[str] | None = None
    source: str = "hpo-gen"

    def config_map(self, namespace: str | None, name: str) -> Mapping[str, str] | None:
        found = self.config_maps.get((namespace, name))
        if found is None and namespace is not None:
            found = self.config_maps.get((None, name))
        return found

    def with_documents(self, documents: Iterable[Mapping[str, Any]]) -> Context:
        """This context plus the ConfigMaps among `documents`."""
        maps = dict(self.config_maps)
        for doc in documents:
            if doc.get("kind") != "ConfigMap" or not isinstance(doc.get("metadata"), Mapping):
                continue
            metadata = doc["metadata"]
            data = doc.get("data") or {}
            if isinstance(metadata.get("name"), str) and isinstance(data, Mapping):
                key = (metadata.get("namespace"), metadata["name"])
                maps[key] = {str(k): str(v) for k, v in data.items()}
        return Context(
            maps,
            self.algorithm_names,
            self.early_stopping_names,
            self.collector_kinds,
            self.trial_resources,
            self.source,
        )


def from_katib_config(document: Mapping[str, Any], source: str) -> Context:
    """The names a KatibConfig document (`config.kubeflow.org/v1beta1`) allows."""
    runtime = document.get("runtime") or {}
    init = (document.get("init") or {}).get("controller") or {}

    def names(entries: Any, key: str) -> frozenset[str]:
        return frozenset(
            str(e[key]) for e in entries or [] if isinstance(e, Mapping) and e.get("image")
        )

    resources = init.get("trialResources")
    return Context(
        algorithm_names=names(runtime.get("suggestions"), "algorithmName"),
        early_stopping_names=names(runtime.get("earlyStoppings"), "algorithmName"),
        collector_kinds=names(runtime.get("metricsCollectors"), "kind") | _UNCONFIGURED_COLLECTORS,
        trial_resources=frozenset(resources) if resources else frozenset({"Job.v1.batch"}),
        source=source,
    )
