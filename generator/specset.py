"""The set of specs of a repository: its Experiments and Environments, the spec file each
Experiment came from, and the modules that could not be loaded."""

from __future__ import annotations

from dataclasses import dataclass, field

from generator.katib.models import Experiment
from generator.language.configmaps import TrialTemplates
from generator.language.environments import Environment, GitOps
from generator.problems import Problem


@dataclass
class SpecSet:
    """What the spec modules define, in a stable order (by name), and where."""

    experiments: list[Experiment] = field(default_factory=list)
    environments: list[Environment] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)  # experiment -> "spec/<file>.py"
    trial_templates: list[TrialTemplates] = field(default_factory=list)
    gitops: GitOps | None = None  # where Argo CD reads and the cluster controller writes
    # Modules that could not be loaded, each a problem (and its traceback for --debug);
    # what the other modules define is here all the same, to be checked too.
    problems: list[Problem] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
