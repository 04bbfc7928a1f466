"""Katib's grid search as its own suggester: every combination of the parameters' grid
values once, in an order shuffled by random_state, then the end of the suggestions.
(optuna's GridSampler stops its study from inside ask/tell, which only works under
`optimize()`.)"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import numpy as np

from controller.algorithms.base import Assignments, wire
from generator.katib.models import ParameterSpec


def grid_values(parameter: ParameterSpec) -> list[object]:
    """Katib's grid: ints by step from min to max, doubles by step (np.arange, the last
    value kept only when within max), lists as given."""
    space = parameter.feasible_space
    if parameter.parameter_type == "int":
        return list(range(int(space.min or 0), int(space.max or 0) + 1, int(space.step or 1)))
    if parameter.parameter_type == "double":
        low, high, step = float(space.min or 0), float(space.max or 0), float(space.step or 1)
        values = np.arange(low, high + step, step)
        return [round(float(v), 12) for v in values if v <= high + 1e-12]
    return list(space.list_ or [])


class GridSuggester:
    def __init__(self, parameters: Sequence[ParameterSpec], seed: int | None):
        names = [p.name for p in parameters]
        combos = itertools.product(*(grid_values(p) for p in parameters))
        self._order: list[Assignments] = [
            tuple((name, wire(value)) for name, value in zip(names, combo, strict=True))
            for combo in combos
        ]
        random.Random(seed).shuffle(self._order)
        self._seen: set[Assignments] = set()

    @property
    def exhausted(self) -> bool:
        return len(self._seen) >= len(self._order)

    def suggest(self, count: int) -> list[Assignments]:
        fresh = [a for a in self._order if a not in self._seen][:count]
        self._seen.update(fresh)
        return fresh

    def observe(self, assignments: Assignments, value: float | None) -> None:
        """The grid does not learn."""

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        self._seen.update(assignments for assignments, _ in history)

    def reserve(self, assignments: Assignments) -> None:
        self._seen.add(assignments)
