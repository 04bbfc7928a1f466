"""Katib's algorithms as optuna samplers, with Katib's setting names mapped onto each
sampler's options. Where Katib's service has a setting optuna does not, it is accepted
(validation already checked it) and has no effect; `docs/algorithms.md` lists each
mapping. random, hyperband, grid and pbt are hpo-controller's own
(`random_search`, `hyperband`, `grid`, `pbt`); `registry` names them all."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import optuna
from optuna.trial import TrialState as OptunaState

from controller.algorithms.base import Assignments, DistinctDraws, parse, wire
from generator.katib.models import ParameterSpec

Settings = dict[str, str]


def quiet_optuna() -> None:
    """Optuna's INFO line per told trial would double the controller's own: warnings only.
    Called where `hpo-controller run` starts (a global setting, never at import)."""
    optuna.logging.set_verbosity(logging.WARNING)


class OptunaSuggester(DistinctDraws):
    """ask/tell over one optuna study."""

    def __init__(
        self,
        sampler: optuna.samplers.BaseSampler,
        parameters: Sequence[ParameterSpec],
        goal: str,
    ):
        super().__init__(parameters)
        direction: Literal["maximize", "minimize"] = (
            "maximize" if goal == "maximize" else "minimize"
        )
        self._study = optuna.create_study(sampler=sampler, direction=direction)
        self._open: dict[Assignments, int] = {}

    def _draw(self) -> tuple[Assignments, int]:
        """One point from the sampler, with its trial number in the study."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            trial = self._study.ask(self._space)
        return tuple((name, wire(trial.params[name])) for name in self._space), trial.number

    def _asked(self, assignments: Assignments, number: int) -> None:
        self._open[assignments] = number

    def _drop(self, number: int) -> None:
        self._study.tell(number, state=OptunaState.FAIL)

    def observe(self, assignments: Assignments, value: float | None) -> None:
        number = self._open.pop(assignments, None)
        if number is None:  # a trial re-run after a restart: the study never asked it
            self.restore([(assignments, value)])
            return
        if value is None or math.isnan(value):
            self._study.tell(number, state=OptunaState.FAIL)
        else:
            self._study.tell(number, value)

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        for assignments, value in history:
            params = {name: parse(self._space[name], text) for name, text in assignments}
            distributions = {name: self._space[name] for name in params}
            failed = value is None or math.isnan(value)
            self._study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=distributions,
                    value=None if failed else value,
                    state=OptunaState.FAIL if failed else OptunaState.COMPLETE,
                )
            )
            self._seen.add(assignments)


def seed(settings: Settings) -> int | None:
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
            seed=seed(settings),
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
        seed=seed(settings),
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
            seed=seed(settings),
            restart_strategy=None if strategy == "none" else strategy,
            warn_independent_sampling=False,
            **extra,  # type: ignore[arg-type]
        )


def _sobol(settings: Settings, parameters: Sequence[ParameterSpec]) -> optuna.samplers.BaseSampler:
    return optuna.samplers.QMCSampler(
        qmc_type="sobol",
        scramble=True,
        seed=seed(settings) if seed(settings) is not None else 0,
        warn_asynchronous_seeding=False,
        warn_independent_sampling=False,
    )


def _bayesian(
    settings: Settings, parameters: Sequence[ParameterSpec]
) -> optuna.samplers.BaseSampler:
    """A Gaussian process with log expected improvement (optuna's GPSampler). Katib's skopt
    settings base_estimator, acq_func and acq_optimizer have no counterpart and no effect."""
    return optuna.samplers.GPSampler(
        seed=seed(settings),
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
