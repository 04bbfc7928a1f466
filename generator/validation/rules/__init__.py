"""Katib's admission rules and the checks Katib forgot, as pure functions of a defaulted
Experiment. Each rule module returns Problems with wire paths; `check_experiment` runs
them all and fills in where each problem was written."""

from __future__ import annotations

from generator.katib.models import Experiment
from generator.problems import Problem
from generator.validation.context import Context
from generator.validation.locating import place
from generator.validation.rules import algorithm, collector, experiment, nas, parameters, template

__all__ = ["check_budget", "check_experiment"]


def check_experiment(subject: Experiment, context: Context | None = None) -> list[Problem]:
    """Every problem of `subject`, which must already carry Katib's defaults."""
    context = context or Context()
    spec = subject.spec
    found: list[Problem] = []
    found += experiment.check(subject, context)
    found += parameters.check(spec, algorithm.fixed_parameters(spec))
    found += algorithm.check(spec, subject.metadata.name)
    found += nas.check(spec)
    found += collector.check(spec, context)
    found += template.check(spec, context)
    return place(found, subject, subject.metadata.name)


def check_budget(subject: Experiment) -> list[Problem]:
    """The rules an Experiment's trial budget can break: its own ordering and what the
    algorithm needs of it (a grid's size, hyperband's parallelism, ...)."""
    spec = subject.spec
    found = experiment.check_budget(spec) + algorithm.check(spec, subject.metadata.name)
    return place(found, subject, subject.metadata.name)
