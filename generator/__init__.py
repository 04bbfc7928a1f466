"""hpo-gen's spec language: Katib experiments written in Python.

from generator import SearchSpace, algorithm, categorical, container, double
from generator import experiment, job, maximize
"""

from __future__ import annotations

from generator.builders import algorithm, container, experiment, job, maximize, minimize
from generator.environments import Environment, environment
from generator.models import Experiment
from generator.space import SearchSpace, categorical, discrete, double, integer

__all__ = [
    "Environment",
    "Experiment",
    "SearchSpace",
    "algorithm",
    "categorical",
    "container",
    "discrete",
    "double",
    "environment",
    "experiment",
    "integer",
    "job",
    "maximize",
    "minimize",
]
