"""The base of the suggestion algorithms: a `Suggester` proposes parameter assignments,
learns from finished trials, and can be rebuilt from trial records after a restart; a
`TrialSuggester` does the same by trial name (pbt); a `TrialWorkspace` is an algorithm's
part in a trial's start. The registry (`registry`) names the algorithm for each of Katib's
names; Katib parameters become optuna distributions here, the space every family draws
from.

The model-based algorithms are one long-lived optuna study per experiment, driven by ask/tell
(`optuna_backed`). random draws its points itself (`random_search`): uniform draws need neither
a study nor optuna's search-space transform. Unlike Katib's services, suggestions are distinct
from every trial suggested before (Katib's tpe repeats points within a batch), and a finite
space that is used up ends the suggestions instead of repeating points."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from controller.core.records import Assignments as Assignments
from controller.core.records import Labels as Labels
from controller.core.records import Suggestion as Suggestion
from controller.core.records import TrialRecord
from controller.core.trialspec import Command
from generator.katib.models import AlgorithmSpec, NasConfig, ParameterSpec

# Asks per requested suggestion before a finite space is taken as used up.
MAX_ASKS = 64


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


class TrialWorkspace(Protocol):
    """An algorithm's part in a trial's start (pbt's checkpoint folder): the command, with
    what the algorithm gives the trial made ready."""

    def mount(self, trial: TrialRecord, command: Command) -> Command: ...


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
    """`nas` is passed only for an experiment that searches architectures."""

    def __call__(
        self,
        spec: AlgorithmSpec,
        parameters: Sequence[ParameterSpec],
        goal: str,
        nas: NasConfig | None = None,
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


def parse(distribution: BaseDistribution, text: str) -> object:
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
