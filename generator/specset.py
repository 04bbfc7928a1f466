"""The set of specs of a repository: its Experiments and Environments, and the spec file
each Experiment came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from generator.katib.models import Experiment
from generator.language.configmaps import TrialTemplates
from generator.language.environments import Environment


@dataclass
class SpecSet:
    """What the spec modules define, in a stable order (by name), and where."""

    experiments: list[Experiment] = field(default_factory=list)
    environments: list[Environment] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)  # experiment -> "spec/<file>.py"
    trial_templates: list[TrialTemplates] = field(default_factory=list)
