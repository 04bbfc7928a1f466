"""Hyperband with Katib's semantics (`pkg/suggestion/v1beta1/hyperband`): brackets s =
s_max .. 0 with s_max = int(log(r_l) / log(eta)); bracket s draws
n = ceil((s_max + 1) / (s + 1) * eta**s) random configurations at resource r_l * eta**-s,
then halves by eta: each rung runs its configurations with the resource parameter set to
the rung's budget, and once every one has reported, the best floor(n * eta**-(i + 1)) go
on with eta times the budget. Unlike Katib, a finished schedule ends the suggestions
(Katib loops on "unexpected trials"), and the schedule is rebuilt from trial records after
a restart: it is drawn from a seeded generator and replays the same way."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from controller.algorithms.base import Assignments, wire
from controller.errors import ControllerError
from generator.katib.models import ParameterSpec

Config = tuple[tuple[str, str], ...]  # assignments without the resource parameter


class HyperbandSuggester:
    def __init__(
        self,
        parameters: Sequence[ParameterSpec],
        settings: dict[str, str],
        goal: str,
        seed: int | None,
    ):
        try:
            self._r_l = float(settings["r_l"])
            self._resource = settings["resource_name"]
        except KeyError as err:
            raise ControllerError("hyperband needs the settings r_l and resource_name") from err
        eta = int(float(settings.get("eta", "3")))
        self._eta = eta if eta > 0 else 3  # Katib's rule: eta <= 0 means 3
        if self._r_l <= 1 or self._eta < 2:
            raise ControllerError("hyperband needs r_l > 1 and eta >= 2")
        by_name = {p.name: p for p in parameters}
        if self._resource not in by_name:
            raise ControllerError(f"hyperband's resource_name {self._resource!r} is no parameter")
        self._parameters = list(parameters)
        self._resource_is_int = by_name[self._resource].parameter_type == "int"
        self._maximize = goal == "maximize"
        self._rng = random.Random(seed)
        self._s_max = int(math.log(self._r_l) / math.log(self._eta))
        self._results: dict[Assignments, float | None] = {}
        self._sent: set[Assignments] = set()
        self._rung: list[Assignments] = []
        self._queue: list[Assignments] = []
        self._plan = self._schedule()
        self.exhausted = False

    def _schedule(self) -> Iterator[list[Assignments]]:
        eta = self._eta
        for s in range(self._s_max, -1, -1):
            n = math.ceil((self._s_max + 1) / (s + 1) * eta**s)
            r = self._r_l * eta ** (-s)
            configs = [self._random_config() for _ in range(n)]
            for i in range(s + 1):
                rung = [self._with_resource(c, r * eta**i) for c in configs]
                yield rung
                keep = math.floor(n * eta ** (-(i + 1)))
                ranked = sorted(
                    zip(configs, rung, strict=True), key=lambda pair: self._rank(pair[1])
                )
                configs = [config for config, _ in ranked[:keep]]

    def _rank(self, assignments: Assignments) -> float:
        value = self._results.get(assignments)
        if value is None or value != value:
            return math.inf
        return -value if self._maximize else value

    def _random_config(self) -> Config:
        config = []
        for parameter in self._parameters:
            if parameter.name == self._resource:
                continue
            space = parameter.feasible_space
            if parameter.parameter_type in ("categorical", "discrete"):
                value: object = self._rng.choice(list(space.list_ or []))
            else:
                low, high = float(space.min or 0), float(space.max or 0)
                step = float(space.step) if space.step else None
                value = self._rng.uniform(low, high)
                if step:
                    value = low + round((float(value) - low) / step) * step
                if parameter.parameter_type == "int":
                    value = round(float(value))
            config.append((parameter.name, wire(value)))
        return tuple(config)

    def _with_resource(self, config: Config, budget: float) -> Assignments:
        value = str(max(1, round(budget))) if self._resource_is_int else wire(budget)
        values = dict(config) | {self._resource: value}
        return tuple((p.name, values[p.name]) for p in self._parameters)

    def suggest(self, count: int) -> list[Assignments]:
        out: list[Assignments] = []
        while len(out) < count:
            if self._queue:
                assignments = self._queue.pop(0)
                self._sent.add(assignments)
                out.append(assignments)
                continue
            if any(a not in self._results for a in self._rung):
                break  # the rung still runs: its results decide the next one
            try:
                self._rung = next(self._plan)
            except StopIteration:
                self.exhausted = True
                break
            waiting = {a for a in self._rung if a not in self._results}
            self._queue = [
                a for a in dict.fromkeys(self._rung) if a in waiting and a not in self._sent
            ]
        return out

    def observe(self, assignments: Assignments, value: float | None) -> None:
        self._results[assignments] = value

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        for assignments, value in history:
            self._results[assignments] = value
            self._sent.add(assignments)

    def reserve(self, assignments: Assignments) -> None:
        self._sent.add(assignments)
