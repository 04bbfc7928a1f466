"""Resuming an unfinished run from its status: the trials that were running when the
controller stopped are queued to run again, and the algorithm is rebuilt from the finished
ones. Pure: the caller tells the algorithm what `Resume` holds."""

from __future__ import annotations

from dataclasses import dataclass, replace

from controller.core.reconcile import objective_value
from controller.core.records import ExperimentRecord, Suggestion, TrialState
from generator.katib.models import ExperimentSpec


@dataclass(frozen=True)
class Resume:
    """The run to continue, and what its algorithm is to hear: the trials run again
    (`rerun`) and the finished ones with their objective values (`history`, in creation
    order; None: the trial was not scored)."""

    record: ExperimentRecord
    rerun: tuple[tuple[str, Suggestion], ...]
    history: tuple[tuple[str, Suggestion, float | None], ...]


def resumed(previous: ExperimentRecord, spec: ExperimentSpec) -> Resume:
    """`previous`, its interrupted trials pending again (one more restart each)."""
    history: list[tuple[str, Suggestion, float | None]] = []
    rerun: list[tuple[str, Suggestion]] = []
    trials = list(previous.trials)
    for index, trial in enumerate(trials):
        if trial.state.is_active:
            trials[index] = replace(
                trial,
                state=TrialState.PENDING,
                reason="TrialRestarted",
                message="run again: hpo-controller stopped while it ran",
                metrics=(),
                start_time=None,
                completion_time=None,
                exit_code=None,
                restarts=trial.restarts + 1,
            )
            rerun.append((trial.name, trial.suggestion))
        else:
            value = objective_value(spec, trial) if trial.state.is_scored else None
            history.append((trial.name, trial.suggestion, value))
    return Resume(replace(previous, trials=trials), tuple(rerun), tuple(history))
