"""Katib's admission rules and the checks Katib forgot, as pure functions of a defaulted
Experiment. Each rule module returns Problems with wire paths; `check_experiment` runs
them all and fills in where each problem was written."""

from __future__ import annotations

from generator.locating import place
from generator.models import Experiment
from generator.problems import Problem
from generator.rules import experiment, parameters, template

__all__ = ["check_experiment"]


def check_experiment(subject: Experiment) -> list[Problem]:
    """Every problem of `subject`, which must already carry Katib's defaults."""
    found: list[Problem] = []
    found += experiment.check(subject)
    found += parameters.check(subject.spec)
    found += template.check(subject.spec)
    return place(found, subject, subject.metadata.name)
