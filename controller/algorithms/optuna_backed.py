"""Katib's algorithms as optuna samplers, with Katib's setting names mapped onto each
sampler's options. Where Katib's service has a setting optuna does not, it is accepted
(validation already checked it) and has no effect; `docs/algorithms.md` lists each
mapping. random, hyperband, grid and pbt are hpo-controller's own
(`controller/suggestion.UniformDraws`, `hyperband.py`, `grid.py`, `pbt.py`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import optuna

from controller.algorithms.base import OptunaSuggester, Suggester, TrialSuggester, UniformDraws
from controller.algorithms.grid import GridSuggester
from controller.algorithms.hyperband import HyperbandSuggester
from controller.algorithms.pbt import PbtSuggester
from controller.errors import ControllerError
from generator.katib.algorithms import ALGORITHMS as CATALOGUE
from generator.katib.models import AlgorithmSpec, ParameterSpec

Settings = dict[str, str]


def _seed(settings: Settings) -> int | None:
    value = settings.get("random_state")
    return int(value) if value is not None else None


def _int(settings: Settings, name: str, default: int) -> int:
    return int(settings[name]) if name in settings else default


def _hyperopt_gamma(fraction: float) -> Callable[[int], int]:
    """hyperopt's split of good trials: ceil(gamma * sqrt(n)), at most 25."""

    def gamma(n: int) -> int:
        return min(math.ceil(fraction * math.sqrt(n)), 25)

    return gamma


def _tpe(settings: Settings, parameters: Sequence[ParameterSpec]) -> optuna.samplers.BaseSampler:
    """Katib's hyperopt tpe: gamma and prior_weight as hyperopt reads them; running trials
    count as bad (constant liar) so a batch is not one point three times."""
    extra: dict[str, float] = {}
    if "prior_weight" in settings:  # deprecated in optuna 4.9; passed only when set
        extra["prior_weight"] = float(settings["prior_weight"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.TPESampler(
            seed=_seed(settings),
            gamma=_hyperopt_gamma(float(settings.get("gamma", "0.25"))),
            n_ei_candidates=_int(settings, "n_EI_candidates", 24),
            n_startup_trials=10,
            constant_liar=True,
            **extra,  # type: ignore[arg-type]
        )


def _multivariate_tpe(
    settings: Settings, parameters: Sequence[ParameterSpec]
) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(
        seed=_seed(settings),
        multivariate=True,
        constant_liar=True,
        n_startup_trials=_int(settings, "n_startup_trials", 10),
        n_ei_candidates=_int(settings, "n_ei_candidates", 24),
    )


def _cmaes(settings: Settings, parameters: Sequence[ParameterSpec]) -> optuna.samplers.BaseSampler:
    strategy = settings.get("restart_strategy", "none").lower()
    extra: dict[str, float] = {}
    if "sigma" in settings:  # sigma0 is deprecated in optuna 4.9; passed only when set
        extra["sigma0"] = float(settings["sigma"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.CmaEsSampler(
            seed=_seed(settings),
            restart_strategy=None if strategy == "none" else strategy,
            warn_independent_sampling=False,
            **extra,  # type: ignore[arg-type]
        )


def _sobol(settings: Settings, parameters: Sequence[ParameterSpec]) -> optuna.samplers.BaseSampler:
    return optuna.samplers.QMCSampler(
        qmc_type="sobol",
        scramble=True,
        seed=_seed(settings) if _seed(settings) is not None else 0,
        warn_asynchronous_seeding=False,
        warn_independent_sampling=False,
    )


def _bayesian(
    settings: Settings, parameters: Sequence[ParameterSpec]
) -> optuna.samplers.BaseSampler:
    """A Gaussian process with log expected improvement (optuna's GPSampler). Katib's skopt
    settings base_estimator, acq_func and acq_optimizer have no counterpart and no effect."""
    return optuna.samplers.GPSampler(
        seed=_seed(settings),
        n_startup_trials=_int(settings, "n_initial_points", 10),
        warn_independent_sampling=False,
    )


SamplerFactory = Callable[[Settings, Sequence[ParameterSpec]], optuna.samplers.BaseSampler]

OPTUNA_ALGORITHMS: dict[str, SamplerFactory] = {
    "tpe": _tpe,
    "multivariate-tpe": _multivariate_tpe,
    "cmaes": _cmaes,
    "sobol": _sobol,
    "bayesianoptimization": _bayesian,
}
# The controller's registry: the catalogue's algorithms it runs (each name below is one the
# catalogue marks `runs`; a test holds the two equal).
ALGORITHMS = frozenset({*OPTUNA_ALGORITHMS, "random", "grid", "hyperband", "pbt"})
# Algorithms whose suggestions do not depend on any trial's result.
RESULT_INDEPENDENT = frozenset({"random", "sobol", "grid"})


def make_suggester(
    spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str
) -> Suggester | TrialSuggester:
    settings = {s.name: s.value for s in spec.algorithm_settings or []}
    if spec.algorithm_name == "pbt":
        return PbtSuggester(parameters, settings, goal, _seed(settings))
    if spec.algorithm_name == "hyperband":
        return HyperbandSuggester(parameters, settings, goal, _seed(settings))
    if spec.algorithm_name == "grid":
        if any(p.parameter_type == "double" and not p.feasible_space.step for p in parameters):
            raise ControllerError("grid needs a step on every double parameter")
        return GridSuggester(parameters, _seed(settings))
    if spec.algorithm_name == "random":
        return UniformDraws(parameters, _seed(settings))
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
