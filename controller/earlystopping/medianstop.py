"""Early stopping, pure: Katib's medianstop rule and when a running trial breaks it.

Katib's rule (`pkg/earlystopping/v1beta1/medianstop/service.py`): once at least
`min_trials_required` trials have succeeded, average the first `start_step` reported
values of the objective of each, and take the *mean* of those averages (Katib calls it a
median; hpo-gen keeps the behaviour and names it honestly). A running trial whose best
value so far is worse than that mean, from its `start_step`-th report on, is stopped.
Unlike Katib, the rule is recomputed as trials finish instead of frozen when a trial is
created, and it is checked while the trial runs (every collector, not only a sidecar's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

    def threshold(self, succeeded: Sequence[Sequence[float]]) -> float | None:
        """The mean of the early averages of the succeeded trials' objective series, or
        None while fewer than min_trials_required trials have succeeded."""
        averages = [
            sum(series[: self.start_step]) / len(series[: self.start_step])
            for series in succeeded
            if series
        ]
        if len(averages) < self.min_trials_required:
            return None
        return sum(averages) / len(averages)

    def should_stop(self, series: Sequence[float], threshold: float | None, maximize: bool) -> bool:
        """Whether a running trial with these reports breaks the rule."""
        if threshold is None or len(series) < self.start_step:
            return False
        finite = [v for v in series if v == v]
        if not finite:
            return False
        best = max(finite) if maximize else min(finite)
        return best < threshold if maximize else best > threshold
