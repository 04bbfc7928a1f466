"""The status document of an experiment run, as committed to `status/<env>/<name>.yaml`:
Katib-shaped status (conditions, currentOptimalTrial, counters, trial lists) and every
trial with its assignments, metrics and state. Pure: records in, plain data out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from controller.reconcile import best_trial, objective_value, restartable
from controller.records import (
    Completion,
    ExperimentRecord,
    MetricSummary,
    TrialRecord,
    TrialState,
)
from generator.models import Experiment
from generator.rules.update import BUDGET_FIELDS

# Katib's counter and list names, per state.
_COUNTERS = {
    TrialState.SUCCEEDED: ("trialsSucceeded", "succeededTrialList"),
    TrialState.FAILED: ("trialsFailed", "failedTrialList"),
    TrialState.KILLED: ("trialsKilled", "killedTrialList"),
    TrialState.PENDING: ("trialsPending", "pendingTrialList"),
    TrialState.RUNNING: ("trialsRunning", "runningTrialList"),
    TrialState.EARLY_STOPPED: ("trialsEarlyStopped", "earlyStoppedTrialList"),
    TrialState.METRICS_UNAVAILABLE: ("trialMetricsUnavailable", "metricsUnavailableTrialList"),
}


def spec_digest(experiment: Experiment) -> str:
    """A fingerprint of the Experiment's spec but its trial budget: a changed search means a
    new run, a changed budget the same run (Katib lets only the budget change)."""
    wire = {k: v for k, v in experiment.spec.to_wire().items() if k not in BUDGET_FIELDS}
    canonical = json.dumps(wire, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def status_document(
    experiment: Experiment, record: ExperimentRecord, environment: str
) -> dict[str, Any]:
    return status_head(experiment, record, environment) | {
        "trials": [trial_document(t) for t in record.trials]
    }


def status_head(
    experiment: Experiment,
    record: ExperimentRecord,
    environment: str,
    digest: str | None = None,
) -> dict[str, Any]:
    """The status document but its trials (which come last)."""
    return {
        "experiment": experiment.name,
        "namespace": record.namespace,
        "environment": environment,
        "specDigest": digest or spec_digest(experiment),
        "status": _status(experiment, record),
    }


def _status(experiment: Experiment, record: ExperimentRecord) -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": record.start_time}
    if record.completion_time:
        status["completionTime"] = record.completion_time
    status["conditions"] = _conditions(record)
    best = best_trial(experiment.spec, record.trials)
    if best is not None:
        status["currentOptimalTrial"] = {
            "bestTrialName": best.name,
            "objectiveValue": objective_value(experiment.spec, best),
            "parameterAssignments": _assignments(best),
            "observation": {"metrics": _metrics(best, series=False)},
        }
    status["trials"] = len(record.trials)
    for state, (counter, _) in _COUNTERS.items():
        status[counter] = sum(1 for t in record.trials if t.state is state)
    for state, (_, listed) in _COUNTERS.items():
        names = [t.name for t in record.trials if t.state is state]
        if names:
            status[listed] = names
    return status


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


def _metrics(trial: TrialRecord, series: bool = True) -> list[dict[str, Any]]:
    return [
        {"name": m.name, "min": m.min, "max": m.max, "latest": m.latest}
        | ({"values": list(m.values)} if series and m.values else {})
        for m in trial.metrics
    ]


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


class StatusError(ValueError):
    """A status document that does not describe a run: cut short, or of another shape."""


def record_from_document(document: dict[str, Any]) -> ExperimentRecord:
    """The experiment run a status document describes: the inverse of status_document.
    Raises StatusError where the document is not one status_document writes."""
    try:
        record = _record(document)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise StatusError(f"{type(err).__name__}: {err}") from err
    counted = (document.get("status") or {}).get("trials")
    if counted != len(record.trials):
        raise StatusError(
            f"it lists {len(record.trials)} trials where its status counts {counted!r}: "
            "it was cut short or edited"
        )
    return record


def _record(document: dict[str, Any]) -> ExperimentRecord:
    status = document.get("status") or {}
    record = ExperimentRecord(
        name=str(document.get("experiment")),
        namespace=document.get("namespace"),
        start_time=status.get("startTime"),
        completion_time=status.get("completionTime"),
    )
    conditions = status.get("conditions") or []
    last = conditions[-1] if conditions else {}
    if record.completion_time and last.get("type") in ("Succeeded", "Failed"):
        record.completion = Completion(
            last["type"], last.get("reason", ""), last.get("message", "")
        )
    for trial in document.get("trials") or []:
        record.trials.append(trial_from_document(trial))
    return record


def trial_from_document(trial: dict[str, Any]) -> TrialRecord:
    """The trial a trial document describes: the inverse of trial_document (raises
    KeyError, TypeError or ValueError for what is not one)."""
    return TrialRecord(
        name=str(trial["name"]),
        assignments=tuple(
            (str(a["name"]), str(a["value"])) for a in trial.get("parameterAssignments", [])
        ),
        state=TrialState(trial["state"]),
        reason=str(trial.get("reason", "")),
        message=str(trial.get("message", "")),
        metrics=tuple(
            MetricSummary(
                m["name"],
                float(m["min"]),
                float(m["max"]),
                float(m["latest"]),
                tuple(float(v) for v in m.get("values", [])),
            )
            for m in trial.get("metrics", [])
        ),
        start_time=trial.get("startTime"),
        completion_time=trial.get("completionTime"),
        exit_code=trial.get("exitCode"),
        log=trial.get("log"),
        restarts=int(trial.get("restarts", 0)),
        labels=tuple((str(k), str(v)) for k, v in (trial.get("labels") or {}).items()),
    )


@dataclass(frozen=True)
class ResumePoint:
    """Where a run of an experiment starts from its status document: `previous` to
    continue (None: a fresh run), or `finished` when it is complete for this spec."""

    previous: ExperimentRecord | None = None
    finished: Completion | None = None
    restarting: bool = False


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
        return ResumePoint(finished=done)
    previous.completion, previous.completion_time = None, None
    return ResumePoint(previous, restarting=True)
