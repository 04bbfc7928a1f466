"""Early stopping, pure: the median stopping rule and when a running trial breaks it.

The rule, as Katib documents it: a running trial is stopped at step S when its best
objective value so far is worse than the median of the running averages (the mean of the
first S reported values) of the succeeded trials, from its `start_step`-th report on, once
at least `min_trials_required` trials have succeeded. Katib's service computes something
else (the *mean* of each succeeded trial's average over its first `start_step` reports,
frozen when a trial is created, and checked only by a sidecar); hpo-gen follows the rule as
documented, recomputes it as trials finish, and checks it while the trial runs with every
collector. docs/katib-compatibility.md lists the difference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from controller.core.step import Breach
from generator.katib.models import EarlyStoppingSpec

DEFAULT_MIN_TRIALS_REQUIRED = 3
DEFAULT_START_STEP = 4


@dataclass(frozen=True)
class MedianStop:
    min_trials_required: int = DEFAULT_MIN_TRIALS_REQUIRED
    start_step: int = DEFAULT_START_STEP

    @classmethod
    def from_spec(cls, spec: EarlyStoppingSpec) -> MedianStop:
        settings = {s.name: int(s.value) for s in spec.algorithm_settings or []}
        return cls(
            settings.get("min_trials_required", DEFAULT_MIN_TRIALS_REQUIRED),
            settings.get("start_step", DEFAULT_START_STEP),
        )

    def applies(self, succeeded: Sequence[Sequence[float]]) -> bool:
        """Whether enough trials have succeeded (with reports) for the rule to apply."""
        return sum(1 for series in succeeded if _finite(series)) >= self.min_trials_required

    def median_at(self, succeeded: Sequence[Sequence[float]], step: int) -> float | None:
        """The median of the succeeded trials' running averages at `step` (a trial that
        reported fewer values: the average of all it reported); None while fewer than
        min_trials_required trials have succeeded."""
        averages = []
        for series in succeeded:
            finite = _finite(series[:step]) or _finite(series)
            if finite:
                averages.append(sum(finite) / len(finite))
        if len(averages) < self.min_trials_required:
            return None
        return median(averages)

    def breach(
        self, series: Sequence[float], succeeded: Sequence[Sequence[float]], maximize: bool
    ) -> Breach | None:
        """Why a running trial with these reports is to stop now, or None."""
        step = len(series)
        finite = _finite(series)
        if step < self.start_step or not finite:
            return None
        threshold = self.median_at(succeeded, step)
        if threshold is None:
            return None
        best = max(finite) if maximize else min(finite)
        worse = best < threshold if maximize else best > threshold
        if not worse:
            return None
        return Breach(step, best, threshold, sum(1 for s in succeeded if _finite(s)))


def _finite(series: Sequence[float]) -> list[float]:
    return [value for value in series if math.isfinite(value)]
