"""Suggestion algorithms behind one seam: a `Suggester` proposes parameter assignments and
learns from finished trials. Algorithms are an explicit name -> class table.

Each suggester keeps one long-lived optuna study per experiment, driven by ask/tell."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Literal, Protocol

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState as OptunaState

from controller.errors import ControllerError
from generator.models import AlgorithmSpec, ParameterSpec

Assignments = tuple[tuple[str, str], ...]

optuna.logging.set_verbosity(logging.WARNING)


class Suggester(Protocol):
    def suggest(self, count: int) -> list[Assignments]:
        """`count` new assignments (name, value as Katib's string), in order."""
        ...

    def observe(self, assignments: Assignments, value: float | None) -> None:
        """A trial with these assignments finished with this objective value (None: failed)."""
        ...


def distributions(parameters: Sequence[ParameterSpec]) -> dict[str, BaseDistribution]:
    """Katib parameters as optuna distributions (uniform or log-uniform; steps kept)."""
    result: dict[str, BaseDistribution] = {}
    for parameter in parameters:
        space = parameter.feasible_space
        log = space.distribution in ("logUniform", "logNormal")
        if parameter.parameter_type == "double":
            step = float(space.step) if space.step and not log else None
            result[parameter.name] = FloatDistribution(
                float(space.min or 0), float(space.max or 0), log=log, step=step
            )
        elif parameter.parameter_type == "int":
            step = 1 if log else int(space.step or 1)
            result[parameter.name] = IntDistribution(
                int(space.min or 0), int(space.max or 0), log=log, step=step
            )
        else:
            result[parameter.name] = CategoricalDistribution(list(space.list_ or []))
    return result


def _wire(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


class OptunaSuggester:
    """ask/tell over one optuna study; the sampler decides the algorithm."""

    def __init__(
        self, sampler: optuna.samplers.BaseSampler, parameters: Sequence[ParameterSpec], goal: str
    ):
        direction: Literal["maximize", "minimize"] = (
            "maximize" if goal == "maximize" else "minimize"
        )
        self._study = optuna.create_study(sampler=sampler, direction=direction)
        self._space = distributions(parameters)
        self._open: dict[Assignments, int] = {}

    def suggest(self, count: int) -> list[Assignments]:
        result = []
        for _ in range(count):
            trial = self._study.ask(self._space)
            assignments = tuple((name, _wire(trial.params[name])) for name in self._space)
            self._open[assignments] = trial.number
            result.append(assignments)
        return result

    def observe(self, assignments: Assignments, value: float | None) -> None:
        number = self._open.pop(assignments, None)
        if number is None:
            return
        if value is None or math.isnan(value):
            self._study.tell(number, state=OptunaState.FAIL)
        else:
            self._study.tell(number, value)


def _random_state(spec: AlgorithmSpec) -> int | None:
    for setting in spec.algorithm_settings or []:
        if setting.name == "random_state":
            return int(setting.value)
    return None


def random_suggester(
    spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str
) -> Suggester:
    sampler = optuna.samplers.RandomSampler(seed=_random_state(spec))
    return OptunaSuggester(sampler, parameters, goal)


class SuggesterFactory(Protocol):
    def __call__(
        self, spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str
    ) -> Suggester: ...


ALGORITHMS: dict[str, SuggesterFactory] = {
    "random": random_suggester,
}


def make_suggester(
    spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str
) -> Suggester:
    factory = ALGORITHMS.get(spec.algorithm_name)
    if factory is None:
        raise ControllerError(
            f"hpo-controller does not run the {spec.algorithm_name!r} algorithm yet; "
            f"it runs: {', '.join(sorted(ALGORITHMS))}"
        )
    return factory(spec, parameters, goal)
