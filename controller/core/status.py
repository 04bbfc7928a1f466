"""The status document of an experiment run, as committed to `status/<env>/<name>.yaml`:
Katib-shaped status (conditions, currentOptimalTrial, counters, trial lists) and every
trial with its assignments, metrics and state. Pure: records in, plain data out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from controller.core.reconcile import best_trial, objective_value, restartable
from controller.core.records import (
    Completion,
    ExperimentRecord,
    MetricSummary,
    TrialRecord,
    TrialState,
)
from generator.katib.identity import immutable_digest
from generator.katib.models import Experiment
from generator.katib.status import (
    ExperimentStatus,
    Metric,
    Observation,
    OptimalTrial,
    StatusDocument,
    StatusError,
    TrialDocument,
    read_status,
)
from generator.validation.rules.update import MAX_TRIALS_REACHED

# Katib's counter and list names, per state.
_COUNTERS = {
    TrialState.SUCCEEDED: ("trials_succeeded", "succeeded_trial_list"),
    TrialState.FAILED: ("trials_failed", "failed_trial_list"),
    TrialState.KILLED: ("trials_killed", "killed_trial_list"),
    TrialState.PENDING: ("trials_pending", "pending_trial_list"),
    TrialState.RUNNING: ("trials_running", "running_trial_list"),
    TrialState.EARLY_STOPPED: ("trials_early_stopped", "early_stopped_trial_list"),
    TrialState.METRICS_UNAVAILABLE: (
        "trial_metrics_unavailable",
        "metrics_unavailable_trial_list",
    ),
}


def spec_digest(experiment: Experiment) -> str:
    """A fingerprint of the Experiment's spec but its trial budget: a changed search means a
    new run, a changed budget the same run (Katib lets only the budget change). The same
    hash, cut short, is in the Experiment's rendered name."""
    return immutable_digest(experiment)


@dataclass(frozen=True)
class Provenance:
    """Where the spec a run ran came from: the repository's commit when it started
    (None: no commit yet), and whether spec/ or the overlay held uncommitted changes."""

    commit: str | None
    dirty: bool


def status_document(
    experiment: Experiment,
    record: ExperimentRecord,
    environment: str,
    provenance: Provenance | None = None,
) -> dict[str, Any]:
    return status_head(experiment, record, environment, provenance=provenance) | {
        "trials": [trial_document(t) for t in record.trials]
    }


def status_head(
    experiment: Experiment,
    record: ExperimentRecord,
    environment: str,
    digest: str | None = None,
    provenance: Provenance | None = None,
) -> dict[str, Any]:
    """The status document but its trials (which come last), built through the model."""
    origin: dict[str, Any] = {}
    if provenance is not None:
        origin = {"spec_commit": provenance.commit, "spec_dirty": provenance.dirty}
    return StatusDocument(
        experiment=experiment.name,
        namespace=record.namespace,
        environment=environment,
        spec_digest=digest or spec_digest(experiment),
        **origin,
        status=_status(experiment, record),
    ).head()


def _status(experiment: Experiment, record: ExperimentRecord) -> ExperimentStatus:
    fields: dict[str, Any] = {"start_time": record.start_time}
    if record.completion_time:
        fields["completion_time"] = record.completion_time
    fields["conditions"] = _conditions(record)
    best = best_trial(experiment.spec, record.trials)
    if best is not None:
        fields["current_optimal_trial"] = OptimalTrial(
            best_trial_name=best.name,
            objective_value=_finite(objective_value(experiment.spec, best)),
            parameter_assignments=_assignments(best),
            observation=Observation(metrics=_metrics(best, series=False)),
        )
    fields["trials"] = len(record.trials)
    for state, (counter, _) in _COUNTERS.items():
        fields[counter] = sum(1 for t in record.trials if t.state is state)
    for state, (_, listed) in _COUNTERS.items():
        names = [t.name for t in record.trials if t.state is state]
        if names:
            fields[listed] = names
    return ExperimentStatus(**fields)


def _conditions(record: ExperimentRecord) -> list[dict[str, Any]]:
    started = record.start_time
    conditions = [
        _condition("Created", "True", "ExperimentCreated", "Experiment is created", started),
    ]
    done = record.completion
    if done is None:
        conditions.append(
            _condition("Running", "True", "ExperimentRunning", "Experiment is running", started)
        )
        return conditions
    ended = record.completion_time
    conditions.append(
        _condition("Running", "False", "ExperimentRunning", "Experiment is running", ended)
    )
    conditions.append(_condition(done.condition, "True", done.reason, done.message, ended))
    return conditions


def _condition(kind: str, state: str, reason: str, message: str, at: str | None) -> dict[str, Any]:
    return {
        "type": kind,
        "status": state,
        "reason": reason,
        "message": message,
        "lastUpdateTime": at,
        "lastTransitionTime": at,
    }


def _assignments(trial: TrialRecord) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in trial.assignments]


# Katib's min and max of a metric reported as text.
UNAVAILABLE = "unavailable"


def metric_fields(m: MetricSummary) -> tuple[float | str, float | str, float | str]:
    """min, max and latest as a document has them: Katib's shape for a text metric."""
    if m.text is not None:
        return UNAVAILABLE, UNAVAILABLE, m.text
    return m.min, m.max, m.latest


def _finite(value: float | None) -> float | None:
    """None for a value that is no number (an objective reported as text)."""
    return value if value is not None and math.isfinite(value) else None


def _metrics(trial: TrialRecord, series: bool = True) -> list[dict[str, Any]]:
    documents = []
    for m in trial.metrics:
        low, high, latest = metric_fields(m)
        document = {"name": m.name, "min": low, "max": high, "latest": latest}
        documents.append(document | ({"values": list(m.values)} if series and m.values else {}))
    return documents


def trial_document(trial: TrialRecord) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": trial.name,
        "state": trial.state.value,
        "reason": trial.reason,
    }
    if trial.message:
        document["message"] = trial.message
    if trial.labels:
        document["labels"] = dict(trial.labels)
    document["parameterAssignments"] = _assignments(trial)
    document["metrics"] = _metrics(trial)
    document.update(trial_tail(trial))
    return document


def trial_tail(trial: TrialRecord) -> list[tuple[str, str | int]]:
    """The fields of a trial's document after its metrics, those it has: its times, exit
    code, log and restarts."""
    fields = (
        ("startTime", trial.start_time),
        ("completionTime", trial.completion_time),
        ("exitCode", trial.exit_code),
        ("log", trial.log),
        ("restarts", trial.restarts or None),
    )
    return [(key, value) for key, value in fields if value is not None]


def record_from_document(document: Any) -> ExperimentRecord:
    """The experiment run a status document describes: the inverse of status_document.
    Raises StatusError where the document is not one status_document writes."""
    parsed = read_status(document)
    status = parsed.status
    record = ExperimentRecord(
        name=parsed.experiment,
        namespace=parsed.namespace,
        start_time=status.start_time,
        completion_time=status.completion_time,
    )
    ended = status.ended()
    if ended is not None:
        record.completion = Completion(ended.type, ended.reason, ended.message)
    try:
        record.trials.extend(_trial(trial) for trial in parsed.trials)
    except ValueError as err:  # a state no trial has
        raise StatusError(str(err)) from err
    return record


def _trial(trial: TrialDocument) -> TrialRecord:
    return TrialRecord(
        name=trial.name,
        assignments=tuple((a.name, a.value) for a in trial.parameter_assignments),
        state=TrialState(trial.state),
        reason=trial.reason,
        message=trial.message or "",
        metrics=tuple(_summary(m) for m in trial.metrics),
        start_time=trial.start_time,
        completion_time=trial.completion_time,
        exit_code=trial.exit_code,
        log=trial.log,
        restarts=trial.restarts or 0,
        labels=tuple((trial.labels or {}).items()),
    )


def _summary(m: Metric) -> MetricSummary:
    if isinstance(m.latest, str):
        return MetricSummary.of_text(m.name, m.latest)
    if isinstance(m.min, str) or isinstance(m.max, str):
        raise ValueError(f"metric {m.name!r}: min and max are numbers where latest is one")
    return MetricSummary(m.name, m.min, m.max, m.latest, tuple(m.values or ()))


def trial_from_document(document: Any) -> TrialRecord:
    """The trial a trial document describes: the inverse of trial_document (raises
    ValueError, pydantic's ValidationError among them, for what is not one)."""
    return _trial(TrialDocument.model_validate(document))


@dataclass(frozen=True)
class ResumePoint:
    """Where a run of an experiment starts from its status document: `previous` to
    continue (None: a fresh run), or `finished` when it is complete for this spec."""

    previous: ExperimentRecord | None = None
    finished: Completion | None = None
    restarting: bool = False
    trials: int = 0  # of the finished run
    held_by_policy: bool = False  # its raised budget has room, but resumePolicy Never


def resume_point(
    experiment: Experiment, document: dict[str, Any] | None, rerun: bool
) -> ResumePoint:
    """A run continues its unfinished predecessor of the same spec (budget aside); a
    finished one restarts only where Katib would (ended on maxTrialCount, resumePolicy
    LongRunning or FromVolume, room in the raised budget)."""
    if rerun or not document or document.get("specDigest") != spec_digest(experiment):
        return ResumePoint()
    previous = record_from_document(document)
    done = previous.completion
    if done is None:
        return ResumePoint(previous)
    if not restartable(experiment.spec, previous.trials, done):
        spec = experiment.spec
        raised = (
            done.reason == MAX_TRIALS_REACHED
            and spec.max_trial_count is not None
            and spec.max_trial_count > len(previous.trials)
        )
        return ResumePoint(finished=done, trials=len(previous.trials), held_by_policy=raised)
    previous.completion, previous.completion_time = None, None
    return ResumePoint(previous, restarting=True)
