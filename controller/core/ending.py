"""How a trial ended, as Katib's trial conditions say it: from its exit, whether the
controller stopped it (the experiment completed, or the early-stopping rule), and what it
reported. Pure."""

from __future__ import annotations

from dataclasses import replace

from controller.core.records import MetricSummary, TrialExit, TrialRecord, TrialState


def finish(
    trial: TrialRecord,
    exited: TrialExit,
    was_stopped: bool,
    metrics: tuple[MetricSummary, ...],
    wanted: list[str],
    completion_time: str,
    *,
    early_stopped: bool = False,
    note: str = "",
    why: str = "",
) -> TrialRecord:
    """The trial's record once it has ended: its metrics, exit code, end time and final
    state (a collector's note as the message where the state gives none; for an early
    stop, `why`: the rule's reason, its step and threshold)."""
    state, reason, message = ending(exited, was_stopped, metrics, wanted, early_stopped)
    if early_stopped and why:
        message = why
    return replace(
        trial,
        state=state,
        reason=reason,
        message=message or note,
        metrics=metrics,
        exit_code=exited.exit_code,
        completion_time=completion_time,
    )


def ending(
    exited: TrialExit,
    was_stopped: bool,
    metrics: tuple[MetricSummary, ...],
    wanted: list[str],
    early_stopped: bool,
) -> tuple[TrialState, str, str]:
    """How a trial ended: its state, reason and message. Early stopping first, then the
    deadline, then a stop by the controller, then the exit code, then the objective."""
    exit_code = exited.exit_code
    if early_stopped:
        return TrialState.EARLY_STOPPED, "TrialEarlyStopped", "Trial is early stopped"
    if exited.deadline_exceeded:
        return (
            TrialState.FAILED,
            "TrialFailed. Job reason: DeadlineExceeded",
            "the trial ran past its activeDeadlineSeconds and was stopped",
        )
    if was_stopped:
        return TrialState.KILLED, "TrialKilled", "stopped because the experiment completed"
    if exit_code != 0 and exited.reason:  # a workload's failure condition, as Katib says it
        return TrialState.FAILED, f"TrialFailed. Job reason: {exited.reason}", exited.message
    if exit_code != 0:
        return TrialState.FAILED, "TrialFailed", exited.message or f"exit code {exit_code}"
    if wanted and not any(summary.name == wanted[0] for summary in metrics):
        return (
            TrialState.METRICS_UNAVAILABLE,
            "MetricsUnavailable",
            f"the trial exited 0 without reporting {wanted[0]!r}",
        )
    return TrialState.SUCCEEDED, "TrialSucceeded", ""


def unrun(trial: TrialRecord) -> TrialRecord:
    """A trial that was to run again, when the experiment turns out complete already (what
    it needed had happened just before the controller died)."""
    return trial.with_state(
        TrialState.KILLED, "TrialKilled", "not run again: the experiment had completed"
    )


def describe(trial: TrialRecord) -> str:
    """One log line of a finished trial: its name, state and latest metrics."""
    metrics = " ".join(f"{m.name}={m.shown()}" for m in trial.metrics)
    return f"{trial.name} {trial.state.value}" + (f" ({metrics})" if metrics else "")
