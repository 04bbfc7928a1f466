"""Population based training with Katib's semantics (`pkg/suggestion/v1beta1/pbt`).

Generation 0 is `n_population` trials drawn from the parameters' grids (min to max by
step). Finished trials collect in a pool; once it holds more than `n_population`, the next
generation is bred from it: values at or below the `truncation_threshold` quantile are the
bottom, at or above the 1 - threshold quantile the top. A share `threshold` of the new
trials *exploit*: each takes a random top trial's assignments unchanged. The rest
*explore*: each perturbs a surviving trial's assignments (numbers x0.8 or x1.2, categories
one place along their list) or, with `resample_probability`, redraws each value with that
probability. A child is never bred twice: the same values from the same checkpoint would
repeat a trial (when a pool has no new child left to breed, fresh trials are drawn, as
before the first generation). Every new trial names its parent, whose checkpoint folder
it starts from, and carries Katib's generation and parent labels. While the pool fills,
more trials are bred from the previous generation (or drawn afresh before there is one).
A failed, killed or metric-less trial is queued again with the same assignments,
generation and parent.

Where Katib is wrong, this does the right thing:
- an exploiting trial continues the checkpoint of the top trial whose assignments it
  copies (Katib copies the bottom trial's checkpoint, pairing a poor model with the good
  trial's hyperparameters);
- perturbed values stay on the parameter's grid and move at least one step (Katib leaves
  doubles off the grid, and `int(1 * 1.2)` never moves);
- a trial without its objective metric is queued again (Katib takes None into the
  quantiles and fails);
- `resample_probability` works (Katib's check rejects every value);
- after a restart the population is rebuilt from the trial records (Katib's service
  keeps it in memory only and fails on trials it does not know).
"""

from __future__ import annotations

import logging
import math
import random
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from controller.algorithms.base import Suggestion, wire
from controller.core.records import TrialRecord
from controller.core.trialspec import Command
from controller.errors import ControllerError
from generator.katib.models import ParameterSpec

GENERATION_LABEL = "pbt.suggestion.katib.kubeflow.org/generation"
PARENT_LABEL = "pbt.suggestion.katib.kubeflow.org/parent"
PERTURBATIONS = (0.8, 1.2)
log = logging.getLogger("hpo-controller")
RETRIES = 8  # perturbations tried for a child unlike its parent's other children


@dataclass(frozen=True)
class _Sampler:
    """One parameter's values: its grid for numbers, its list otherwise."""

    name: str
    kind: str
    values: tuple[str, ...]  # the grid or the list, as Katib's strings
    numbers: tuple[float, ...] = ()  # the grid as numbers

    @classmethod
    def of(cls, parameter: ParameterSpec) -> _Sampler:
        space = parameter.feasible_space
        if parameter.parameter_type in ("categorical", "discrete"):
            return cls(parameter.name, "list", tuple(space.list_ or []))
        low, high = float(space.min or 0), float(space.max or 0)
        if not space.step and parameter.parameter_type == "double":
            raise ControllerError(f"pbt samples on a grid and needs a step for {parameter.name!r}")
        step = float(space.step or 1)
        count = math.floor((high - low) / step + 1e-9) + 1
        if parameter.parameter_type == "int":
            grid = tuple(str(round(low + i * step)) for i in range(count))
        else:
            grid = tuple(wire(low + i * step) for i in range(count))
        return cls(parameter.name, "number", grid, tuple(float(v) for v in grid))

    def sample(self, rng: random.Random) -> str:
        return rng.choice(self.values)

    def perturb(self, value: str, rng: random.Random) -> str:
        if self.kind == "list":
            index = self.values.index(value) + rng.choice((-1, 1))
            return self.values[index % len(self.values)]
        factor = rng.choice(PERTURBATIONS)
        current = _nearest(self.numbers, float(value))
        target = _nearest(self.numbers, float(value) * factor)
        if target == current:  # too small a change to leave its grid point: one step
            target = min(max(current + (1 if factor > 1 else -1), 0), len(self.numbers) - 1)
        return self.values[target]


def _nearest(grid: tuple[float, ...], value: float) -> int:
    return min(range(len(grid)), key=lambda i: abs(grid[i] - value))


class PbtSuggester:
    """A `TrialSuggester`: suggestions are trials with a generation and a parent."""

    def __init__(
        self,
        parameters: Sequence[ParameterSpec],
        settings: dict[str, str],
        goal: str,
        seed: int | None,
    ):
        # suggestion_trial_dir is required too; CheckpointFolders mounts the folders there.
        if any(
            name not in settings
            for name in ("suggestion_trial_dir", "n_population", "truncation_threshold")
        ):
            raise ControllerError(
                "pbt needs the settings suggestion_trial_dir, n_population and truncation_threshold"
            )
        self._population = int(settings["n_population"])
        self._threshold = float(settings["truncation_threshold"])
        resample = settings.get("resample_probability")
        self._resample = float(resample) if resample is not None else None
        if self._population < 5 or not 0 <= self._threshold <= 1:
            raise ControllerError("pbt needs n_population >= 5 and truncation_threshold in [0, 1]")
        self._samplers = [_Sampler.of(p) for p in parameters]
        self._sign = 1.0 if goal == "maximize" else -1.0  # pools rank higher as better
        self._seed = seed
        self._rng = random.Random(seed)
        self._pending: list[Suggestion] = []
        self._running: list[Suggestion] = []
        self._finished: dict[str, tuple[Suggestion, float]] = {}  # trial -> (it, signed value)
        self._current: list[str] = []
        self._previous: list[str] = []
        self._reruns: list[Suggestion] = []
        self._bred: set[Suggestion] = set()
        self._draw(self._population)

    @property
    def exhausted(self) -> bool:
        return False  # a population can always breed another generation

    def suggest_trials(self, count: int) -> list[Suggestion]:
        while len(self._pending) < count:  # a small pool breeds fewer than asked: again
            before = len(self._pending)
            self._generate(count - before)
            if len(self._pending) == before:  # every child it could breed exists
                self._draw(count - before)
        out, self._pending = self._pending[:count], self._pending[count:]
        self._running += out
        return out

    def trial_finished(self, trial: str, suggestion: Suggestion, value: float | None) -> None:
        if suggestion in self._running:
            self._running.remove(suggestion)
        if value is None or math.isnan(value):
            self._pending.append(suggestion)  # run it again, from the same parent
            return
        self._finished[trial] = (suggestion, self._sign * value)
        self._current.append(trial)

    def trial_rerun(self, trial: str, suggestion: Suggestion) -> None:
        self._reruns.append(suggestion)

    def rebuild(self, history: Sequence[tuple[str, Suggestion, float | None]]) -> None:
        """The population from the records: finished trials fill the pools in creation
        order (a pool that grows past n_population becomes the previous generation, as
        breeding would have made it); failed trials not yet run again are queued again;
        generation 0 is topped up to n_population."""
        seed = None if self._seed is None else f"{self._seed}/{len(history)}"
        self._rng = random.Random(seed)
        self._pending, self._running = [], list(self._reruns)
        self._finished, self._current, self._previous = {}, [], []
        self._bred = {s for _, s, _ in history} | set(self._reruns)
        owed: Counter[Suggestion] = Counter()
        for trial, suggestion, value in history:
            if owed[suggestion]:
                owed[suggestion] -= 1  # this trial was the re-run of a failed one
            if value is None or math.isnan(value):
                owed[suggestion] += 1
                continue
            self._finished[trial] = (suggestion, self._sign * value)
            self._current.append(trial)
            if len(self._current) > self._population:
                self._previous, self._current = self._current, []
        for suggestion in self._reruns:
            if owed[suggestion]:
                owed[suggestion] -= 1
        self._pending = list(owed.elements())
        if not self._previous:
            given = [s for s, _ in self._finished.values()] + self._running
            first = sum(1 for s in given if s.label(GENERATION_LABEL) == "0")
            self._draw(max(self._population - first - len(self._pending), 0))

    def _draw(self, count: int) -> None:
        for _ in range(count):
            assignments = tuple((s.name, s.sample(self._rng)) for s in self._samplers)
            self._pending.append(Suggestion(assignments, ((GENERATION_LABEL, "0"),)))

    def _generate(self, count: int) -> None:
        if len(self._current) <= self._population:
            if not self._previous:
                self._draw(count)
                return
            exploit, explore, top = self._segment(self._previous, count)
        else:
            exploit, explore, top = self._segment(self._current, self._population)
            self._previous, self._current = self._current, []
        for _ in exploit:
            donor = self._rng.choice(top)
            if not self._breed(donor, self._finished[donor][0].assignments):
                self._explore_from(donor)  # that copy runs already: vary it instead
        for parent in explore:
            self._explore_from(parent)

    def _explore_from(self, parent: str) -> None:
        values = self._finished[parent][0].assignments
        for _ in range(RETRIES):
            if self._breed(parent, tuple(self._explore(values))):
                return

    def _explore(self, assignments: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        values = dict(assignments)
        out = []
        for sampler in self._samplers:
            value = values[sampler.name]
            if self._resample is None:
                value = sampler.perturb(value, self._rng)
            elif self._rng.random() < self._resample:
                value = sampler.sample(self._rng)
            out.append((sampler.name, value))
        return out

    def _breed(self, parent: str, assignments: tuple[tuple[str, str], ...]) -> bool:
        """Queue a child of `parent`, unless the same child was bred before: it would
        train the same checkpoint with the same values again."""
        generation = int(self._finished[parent][0].label(GENERATION_LABEL) or 0) + 1
        labels = ((GENERATION_LABEL, str(generation)), (PARENT_LABEL, parent))
        child = Suggestion(assignments, labels)
        if child in self._bred:
            return False
        self._bred.add(child)
        self._pending.append(child)
        return True

    def _segment(self, pool: list[str], count: int) -> tuple[list[str], list[str], list[str]]:
        """Katib's split of a pool: the bottom (below the threshold quantile) to be
        replaced, the rest to explore, and the top (at or above 1 - threshold) to copy;
        `count` trials in all, a `threshold` share of them exploiting."""
        # Infinite values rank as the largest and smallest finite numbers, so that the
        # quantiles stay numbers.
        values = [float(np.nan_to_num(self._finished[trial][1])) for trial in pool]
        low, high = np.quantile(values, (self._threshold, 1 - self._threshold))
        bottom = [t for t, v in zip(pool, values, strict=True) if v < low]
        rest = [t for t, v in zip(pool, values, strict=True) if v >= low]
        top = [t for t, v in zip(pool, values, strict=True) if v >= high]
        self._rng.shuffle(bottom)
        self._rng.shuffle(rest)
        bottom = bottom[: int(count * self._threshold)]
        return bottom, rest[: count - len(bottom)], top


class CheckpointFolders:
    """pbt's trial folders, as Katib mounts them: each trial sees its own folder at the
    `suggestion_trial_dir` path, a copy of its parent's when it has one. Locally the path
    is rewritten in the trial's arguments, environment and working directory."""

    def __init__(self, volume: Path, trial_dir: str):
        self.volume, self.trial_dir = volume, trial_dir.rstrip("/") or "/"

    @classmethod
    def prepare(cls, volume: Path, trial_dir: str, fresh: bool) -> CheckpointFolders:
        """The folders in `volume`; emptied first for a fresh run (no checkpoints of an
        earlier one)."""
        if fresh and volume.exists():
            shutil.rmtree(volume)
        volume.mkdir(parents=True, exist_ok=True)
        return cls(volume, trial_dir)

    def mount(self, trial: TrialRecord, command: Command) -> Command:
        folder = self.volume / trial.name
        if folder.exists():  # a trial run again starts from its parent, not its own leftovers
            shutil.rmtree(folder)
        parent = dict(trial.labels).get(PARENT_LABEL)
        if parent and (self.volume / parent).is_dir():
            shutil.copytree(self.volume / parent, folder)
        else:
            if parent:
                log.warning("%s: its parent %s left no checkpoint folder", trial.name, parent)
            folder.mkdir(parents=True)
        return command.relocated(self.trial_dir, str(folder), working_dir=True)
