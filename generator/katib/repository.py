"""The layout of a repository hpo-gen works in, the one home of its folder names:
`spec/` (the experiments, in Python), `overlays/` (what `hpo-gen render` writes: `base/`,
`trial-templates/` and one folder per environment), `status/<env>/` (the results
hpo-controller commits) and `.hpo/` (hpo-controller's own, never committed)."""

from __future__ import annotations

SPEC_FOLDER = "spec"
OVERLAYS_FOLDER = "overlays"
STATUS_FOLDER = "status"
WORK_FOLDER = ".hpo"
# Folders of overlays/ that are not environments: no environment may take their names.
BASE_FOLDER = "base"
TEMPLATES_FOLDER = "trial-templates"
NOT_ENVIRONMENTS = frozenset({BASE_FOLDER, TEMPLATES_FOLDER})
