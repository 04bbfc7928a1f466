"""random: Katib's random search, drawn here without optuna (`UniformDraws`)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from controller.algorithms.base import Assignments, DistinctDraws, wire
from generator.katib.models import ParameterSpec


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
