"""Suggestion algorithms behind one seam: a `Suggester` proposes parameter assignments,
learns from finished trials, and can be rebuilt from trial records after a restart.
Algorithms are an explicit name -> factory table, by Katib's names.

The model-based algorithms are one long-lived optuna study per experiment, driven by ask/tell;
the sampler decides the algorithm (`controller.algorithms.optuna_backed`). random draws its
points itself (`UniformDraws`): uniform draws need neither a study nor optuna's search-space
transform. Unlike Katib's services, suggestions are distinct from every trial suggested before
(Katib's tpe repeats points within a batch), and a finite space that is used up ends the
suggestions instead of repeating points."""

from __future__ import annotations

import logging
import math
import random
import warnings
from collections.abc import Callable, Sequence
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

from generator.katib.models import AlgorithmSpec, ParameterSpec

Assignments = tuple[tuple[str, str], ...]
Labels = tuple[tuple[str, str], ...]
# Asks per requested suggestion before a finite space is taken as used up.
MAX_ASKS = 64


def quiet_optuna() -> None:
    """Optuna's INFO line per told trial would double the controller's own: warnings only.
    Called where `hpo-controller run` starts (a global setting, never at import)."""
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


class DistinctDraws:
    """Suggestions that never repeat: each new one is drawn until it differs from every
    point suggested, reserved or restored before; a finite space that is used up ends the
    suggestions. Subclasses say how a point is drawn (`_draw`) and what becomes of a point
    drawn again (`_drop`)."""

    def __init__(self, parameters: Sequence[ParameterSpec]):
        self._space = distributions(parameters)
        self._size = space_size(self._space)
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
                self._asked(assignments, number)
                return assignments
            self._drop(number)
        return None

    def _draw(self) -> tuple[Assignments, int]:
        """One point, with its number in the sampler's own bookkeeping (-1: none)."""
        raise NotImplementedError

    def _asked(self, assignments: Assignments, number: int) -> None:
        """`assignments` (drawn as `number`) are suggested."""

    def _drop(self, number: int) -> None:
        """The point drawn as `number` repeats one seen before: not run."""

    def reserve(self, assignments: Assignments) -> None:
        self._seen.add(assignments)


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


class UniformDraws(DistinctDraws):
    """random: each parameter drawn uniformly and independently over its feasible space
    (log-uniformly on a log scale, uniformly over the points of a step's grid), by Python's
    Mersenne Twister seeded with random_state. Nothing is learnt from results. Katib's
    random is hyperopt's `rand.suggest`, which draws uniform and logUniform parameters the
    same way; a point costs a few microseconds where a sampler asked through optuna's
    search-space transform costs tens."""

    def __init__(self, parameters: Sequence[ParameterSpec], seed: int | None):
        super().__init__(parameters)
        self._random = random.Random(seed)
        self._drawers = [(name, _drawer(d, self._random)) for name, d in self._space.items()]

    def _draw(self) -> tuple[Assignments, int]:
        return tuple((name, draw()) for name, draw in self._drawers), -1

    def observe(self, assignments: Assignments, value: float | None) -> None:
        self._seen.add(assignments)

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        self._seen.update(assignments for assignments, _ in history)


def _drawer(distribution: BaseDistribution, rng: random.Random) -> Callable[[], str]:
    """A function that draws one value of `distribution`, as Katib's string."""
    if isinstance(distribution, CategoricalDistribution):
        choices = [wire(choice) for choice in distribution.choices]
        return lambda: rng.choice(choices)
    if isinstance(distribution, IntDistribution):
        return _int_drawer(distribution, rng)
    assert isinstance(distribution, FloatDistribution)
    low, high = distribution.low, distribution.high
    if distribution.log:
        bottom, top = math.log(low), math.log(high)
        return lambda: wire(min(max(math.exp(rng.uniform(bottom, top)), low), high))
    if distribution.step is not None:
        step, points = distribution.step, round((high - low) / distribution.step) + 1
        return lambda: wire(min(low + rng.randrange(points) * step, high))
    return lambda: wire(rng.uniform(low, high))


def _int_drawer(distribution: IntDistribution, rng: random.Random) -> Callable[[], str]:
    low, high = distribution.low, distribution.high
    if distribution.log:  # log-uniform over [low - 1/2, high + 1/2], rounded
        bottom, top = math.log(low - 0.5), math.log(high + 0.5)
        return lambda: str(min(max(round(math.exp(rng.uniform(bottom, top))), low), high))
    return lambda: str(rng.randrange(low, high + 1, distribution.step))
