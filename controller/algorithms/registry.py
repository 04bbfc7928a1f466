"""The controller's registry of algorithms, by Katib's names: which suggester runs each,
which need no result to suggest, and the hooks an algorithm adds to its trials' starts
(pbt's checkpoint folders). The catalogue (`generator.katib.algorithms`) marks each of
Katib's algorithms as run here or validated only; a test holds the two equal."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import optuna

from controller.algorithms.base import Suggester, TrialSuggester, TrialWorkspace
from controller.algorithms.grid import GridSuggester
from controller.algorithms.hyperband import HyperbandSuggester
from controller.algorithms.optuna_backed import OPTUNA_ALGORITHMS, OptunaSuggester, seed
from controller.algorithms.pbt import CheckpointFolders, PbtSuggester
from controller.algorithms.random_search import UniformDraws
from controller.errors import ControllerError
from generator.katib.algorithms import ALGORITHMS as CATALOGUE
from generator.katib.models import AlgorithmSpec, ParameterSpec

# The catalogue's algorithms this controller runs.
ALGORITHMS = frozenset({*OPTUNA_ALGORITHMS, "random", "grid", "hyperband", "pbt"})
# Algorithms whose suggestions do not depend on any trial's result.
RESULT_INDEPENDENT = frozenset({"random", "sobol", "grid"})


def make_suggester(
    spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str
) -> Suggester | TrialSuggester:
    settings = {s.name: s.value for s in spec.algorithm_settings or []}
    if spec.algorithm_name == "pbt":
        return PbtSuggester(parameters, settings, goal, seed(settings))
    if spec.algorithm_name == "hyperband":
        return HyperbandSuggester(parameters, settings, goal, seed(settings))
    if spec.algorithm_name == "grid":
        if any(p.parameter_type == "double" and not p.feasible_space.step for p in parameters):
            raise ControllerError("grid needs a step on every double parameter")
        return GridSuggester(parameters, seed(settings))
    if spec.algorithm_name == "random":
        return UniformDraws(parameters, seed(settings))
    factory = OPTUNA_ALGORITHMS.get(spec.algorithm_name)
    if factory is None:
        info = CATALOGUE.get(spec.algorithm_name)
        what = "is validated and rendered but not run" if info and not info.runs else "is unknown"
        raise ControllerError(
            f"the {spec.algorithm_name!r} algorithm {what} by hpo-controller; "
            f"it runs: {', '.join(sorted(ALGORITHMS))}"
        )
    with warnings.catch_warnings():
        # GPSampler and QMCSampler are marked experimental in optuna; hpo-gen pins and
        # tests the behaviour it relies on.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = factory(settings, parameters)
    return OptunaSuggester(sampler, parameters, goal)


def trial_workspace(
    spec: AlgorithmSpec, experiment: str, volume: Path | None, fresh: bool
) -> TrialWorkspace | None:
    """What the algorithm adds to each trial's start (None: nothing). pbt keeps each
    trial's checkpoint folder in `volume`, the experiment's persistent folder; `fresh`: a
    new run, whose folders start empty."""
    if spec.algorithm_name != "pbt":
        return None
    if volume is None:
        raise ControllerError(f"experiment {experiment!r}: pbt needs a volume folder")
    settings = {s.name: s.value for s in spec.algorithm_settings or []}
    return CheckpointFolders.prepare(volume, settings.get("suggestion_trial_dir", "/"), fresh)
