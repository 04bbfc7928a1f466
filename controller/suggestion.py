"""Suggestion algorithms behind one seam: a `Suggester` proposes parameter assignments,
learns from finished trials, and can be rebuilt from trial records after a restart.
Algorithms are an explicit name -> factory table, by Katib's names.

Every algorithm here is one long-lived optuna study per experiment, driven by ask/tell;
the sampler decides the algorithm (`controller.samplers`). random asks its sampler
directly (`RandomDraws`): the same points, without the study's bookkeeping. Unlike
Katib's services, suggestions are distinct from every trial suggested before (Katib's tpe
repeats points within a batch), and a finite space that is used up ends the suggestions
instead of repeating points."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState as OptunaState

from generator.models import AlgorithmSpec, ParameterSpec

Assignments = tuple[tuple[str, str], ...]
Labels = tuple[tuple[str, str], ...]
# Asks per requested suggestion before a finite space is taken as used up.
MAX_ASKS = 64

optuna.logging.set_verbosity(logging.WARNING)


class Suggester(Protocol):
    @property
    def exhausted(self) -> bool:
        """Nothing more will ever be suggested (a used-up space, a finished schedule)."""
        ...

    def suggest(self, count: int) -> list[Assignments]:
        """Up to `count` new, distinct assignments; fewer when the space is used up (then
        `exhausted`) or when the algorithm waits for running trials (hyperband's rungs)."""
        ...

    def observe(self, assignments: Assignments, value: float | None) -> None:
        """A trial with these assignments finished with this objective value (None: failed)."""
        ...

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        """Rebuild from finished trials (value None: failed), e.g. after a restart."""
        ...

    def reserve(self, assignments: Assignments) -> None:
        """A trial with these assignments runs again (after a restart): never suggest them."""
        ...


@dataclass(frozen=True)
class Suggestion:
    """A trial to create: its assignments and the labels the algorithm puts on it (pbt's
    generation and parent)."""

    assignments: Assignments
    labels: Labels = ()

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)


@runtime_checkable
class TrialSuggester(Protocol):
    """An algorithm whose suggestions are trials rather than points: the same assignments
    may run twice (pbt continues a checkpoint with them), so it learns results by trial
    name. The run loop drives every algorithm through this seam; `ByAssignments` adapts a
    `Suggester`."""

    @property
    def exhausted(self) -> bool: ...

    def suggest_trials(self, count: int) -> list[Suggestion]: ...

    def trial_finished(self, trial: str, suggestion: Suggestion, value: float | None) -> None:
        """`trial`, created from `suggestion`, finished with this objective value (None:
        failed, killed or without the metric)."""
        ...

    def rebuild(self, history: Sequence[tuple[str, Suggestion, float | None]]) -> None:
        """Continue after a restart from the finished trials, in creation order."""
        ...

    def trial_rerun(self, trial: str, suggestion: Suggestion) -> None:
        """`trial` was running when the controller died and runs again."""
        ...


class ByAssignments:
    """A `Suggester` as a `TrialSuggester`: trials are known by their assignments."""

    def __init__(self, inner: Suggester):
        self.inner = inner

    @property
    def exhausted(self) -> bool:
        return self.inner.exhausted

    def suggest_trials(self, count: int) -> list[Suggestion]:
        return [Suggestion(assignments) for assignments in self.inner.suggest(count)]

    def trial_finished(self, trial: str, suggestion: Suggestion, value: float | None) -> None:
        self.inner.observe(suggestion.assignments, value)

    def rebuild(self, history: Sequence[tuple[str, Suggestion, float | None]]) -> None:
        self.inner.restore([(suggestion.assignments, value) for _, suggestion, value in history])

    def trial_rerun(self, trial: str, suggestion: Suggestion) -> None:
        self.inner.reserve(suggestion.assignments)


def as_trial_suggester(suggester: Suggester | TrialSuggester) -> TrialSuggester:
    if isinstance(suggester, TrialSuggester):
        return suggester
    return ByAssignments(suggester)


class SuggesterFactory(Protocol):
    def __call__(
        self, spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str
    ) -> Suggester | TrialSuggester: ...


def distributions(parameters: Sequence[ParameterSpec]) -> dict[str, BaseDistribution]:
    """Katib parameters as optuna distributions (uniform or log-uniform; steps kept).
    optuna has no normal distributions: they sample uniformly over [min, max]."""
    result: dict[str, BaseDistribution] = {}
    for parameter in parameters:
        space = parameter.feasible_space
        log = space.distribution in ("logUniform", "logNormal")
        if parameter.parameter_type == "double":
            step = float(space.step) if space.step and not log else None
            low, high = float(space.min or 0), float(space.max or 0)
            if step is not None:  # optuna needs (high - low) to be a multiple of step
                high = low + math.floor((high - low) / step + 1e-9) * step
            result[parameter.name] = FloatDistribution(low, high, log=log, step=step)
        elif parameter.parameter_type == "int":
            step = 1 if log else int(space.step or 1)
            low, high = int(space.min or 0), int(space.max or 0)
            high = low + (high - low) // step * step
            result[parameter.name] = IntDistribution(low, high, log=log, step=step)
        else:
            result[parameter.name] = CategoricalDistribution(list(space.list_ or []))
    return result


def space_size(space: dict[str, BaseDistribution]) -> int | None:
    """How many distinct assignments a space holds, or None when it is continuous."""
    size = 1
    for distribution in space.values():
        if isinstance(distribution, CategoricalDistribution):
            size *= len(distribution.choices)
        elif isinstance(distribution, IntDistribution) and not distribution.log:
            size *= (distribution.high - distribution.low) // distribution.step + 1
        elif isinstance(distribution, FloatDistribution) and distribution.step is not None:
            size *= round((distribution.high - distribution.low) / distribution.step) + 1
        else:
            return None
    return size


def wire(value: object) -> str:
    """A value as Katib's string: floats in their shortest repr, rounded to a step's grid."""
    if isinstance(value, float):
        return repr(round(value, 12))
    return str(value)


def _parse(distribution: BaseDistribution, text: str) -> object:
    if isinstance(distribution, FloatDistribution):
        return float(text)
    if isinstance(distribution, IntDistribution):
        return int(text)
    return text


class OptunaSuggester:
    """ask/tell over one optuna study."""

    def __init__(
        self,
        sampler: optuna.samplers.BaseSampler,
        parameters: Sequence[ParameterSpec],
        goal: str,
    ):
        direction: Literal["maximize", "minimize"] = (
            "maximize" if goal == "maximize" else "minimize"
        )
        self._study = optuna.create_study(sampler=sampler, direction=direction)
        self._space = distributions(parameters)
        self._size = space_size(self._space)
        self._open: dict[Assignments, int] = {}
        self._seen: set[Assignments] = set()
        self.exhausted = False

    def suggest(self, count: int) -> list[Assignments]:
        result: list[Assignments] = []
        for _ in range(count):
            found = self._ask_new()
            if found is None:
                self.exhausted = True
                break
            result.append(found)
        return result

    def _ask_new(self) -> Assignments | None:
        if self._size is not None and len(self._seen) >= self._size:
            return None
        # A seeded sampler rebuilt after a restart replays its sequence: let it run past
        # the points it has already given, then it continues as if never interrupted.
        attempts = MAX_ASKS + (len(self._seen) if self._size is None else 0)
        for _ in range(attempts):
            assignments, number = self._draw()
            if assignments not in self._seen:
                self._seen.add(assignments)
                self._open[assignments] = number
                return assignments
            self._drop(number)
        return None

    def _draw(self) -> tuple[Assignments, int]:
        """One point from the sampler, with its trial number in the study."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            trial = self._study.ask(self._space)
        return tuple((name, wire(trial.params[name])) for name in self._space), trial.number

    def _drop(self, number: int) -> None:
        """A point drawn again: not run."""
        self._study.tell(number, state=OptunaState.FAIL)

    def reserve(self, assignments: Assignments) -> None:
        self._seen.add(assignments)

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
            params = {name: _parse(self._space[name], text) for name, text in assignments}
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


class RandomDraws(OptunaSuggester):
    """random: optuna's RandomSampler asked for each parameter's value directly, in the
    order a study's ask would ask it, so the points are the same, seed for seed, without
    the study's bookkeeping of trials, which random never reads (asking and telling the
    study cost several times the draw itself)."""

    def __init__(
        self,
        sampler: optuna.samplers.RandomSampler,
        parameters: Sequence[ParameterSpec],
        goal: str,
    ):
        super().__init__(sampler, parameters, goal)
        self._sampler = sampler
        # What the sampler is handed as the trial being sampled; random reads nothing of it.
        self._trial = optuna.trial.create_trial(state=OptunaState.RUNNING)

    def _draw(self) -> tuple[Assignments, int]:
        study, trial = self._study, self._trial
        values = (
            (name, self._sampler.sample_independent(study, trial, name, distribution))
            for name, distribution in self._space.items()
        )
        return tuple((name, wire(value)) for name, value in values), -1

    def _drop(self, number: int) -> None:
        pass

    def observe(self, assignments: Assignments, value: float | None) -> None:
        self._open.pop(assignments, None)
        self._seen.add(assignments)

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        self._seen.update(assignments for assignments, _ in history)
