"""The layout of a repository hpo-gen works in, the one home of its folder names:
`spec/` (the experiments, in Python), `overlays/` (what `hpo-gen render` writes: `base/`,
`trial-templates/`, one folder per environment and, for cluster environments,
`controller/`, `crds/` and `argocd/`), `status/<env>/` (the results
hpo-controller commits) and `.hpo/` (hpo-controller's own, never committed)."""

from __future__ import annotations

import re
from pathlib import Path

SPEC_FOLDER = "spec"
OVERLAYS_FOLDER = "overlays"
STATUS_FOLDER = "status"
WORK_FOLDER = ".hpo"
# Folders of overlays/ that are not environments: no environment may take their names.
BASE_FOLDER = "base"
TEMPLATES_FOLDER = "trial-templates"
CONTROLLER_FOLDER = "controller"  # the in-cluster controller's manifests, namespace-free
CRDS_FOLDER = "crds"  # the cluster-scoped layer: the CRDs for clusters without Katib
ARGOCD_FOLDER = "argocd"  # the Argo CD Applications and health check
NOT_ENVIRONMENTS = frozenset(
    {BASE_FOLDER, TEMPLATES_FOLDER, CONTROLLER_FOLDER, CRDS_FOLDER, ARGOCD_FOLDER}
)
# Where `make demo` runs the example specs: a scratch copy of the checkout (scripts/demo).
DEMO_FOLDER = ".demo/repo"
# An environment name as it may appear in a path: a DNS-1123 label (nothing hidden, no
# '/' or '..'), which validation requires of every environment.
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def declared_environments(root: Path) -> list[str]:
    """The environments `hpo-gen render` wrote: overlays/<env>/ with a kustomization."""
    folder = root / OVERLAYS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if path.name not in NOT_ENVIRONMENTS
        and _LABEL.fullmatch(path.name)
        and (path / "kustomization.yaml").is_file()
    )
