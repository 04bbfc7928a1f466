"""A repository laid out for hpo-gen (`spec/` and `overlays/` side by side) and the whole
pipeline over it: load the specs, validate them, render the tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.katib.repository import OVERLAYS_FOLDER, SPEC_FOLDER
from generator.project.loading import load_specs
from generator.rendering import RenderedTree, render
from generator.specset import SpecSet
from generator.validation.admission import validate_specs
from generator.validation.context import Context


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def spec_dir(self) -> Path:
        return self.root / SPEC_FOLDER

    @property
    def overlays_dir(self) -> Path:
        return self.root / OVERLAYS_FOLDER

    def validated_specs(self, context: Context | None = None) -> SpecSet:
        """Load and validate every spec; raises ProblemReport."""
        return validate_specs(load_specs(self.spec_dir), context)

    def rendered(self) -> RenderedTree:
        """What `overlays/` must contain; raises ProblemReport."""
        return render(self.validated_specs())
