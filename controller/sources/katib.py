"""Katib's own objects read as a run's record: where the cluster runs Katib (an environment
with `executor="katib"`), hpo-controller executes nothing and mirrors what Katib's
Experiment and Trial objects say into the same status files and commits as its own runs.

A Trial's state is its last condition that holds (Katib appends them: Created, Running,
then Succeeded, Failed, Killed, MetricsUnavailable or EarlyStopped, with Running set to
False), its values its `spec.parameterAssignments`, its metrics the `min`, `max` and
`latest` of `status.observation.metrics` (a value Katib could not read, such as
"unavailable", is left out, not recorded as a number). The Experiment's end is its last
condition when that is Succeeded or Failed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controller.core.records import (
    Completion,
    ExperimentRecord,
    MetricSummary,
    TrialRecord,
    TrialState,
)

EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
_STATES = {
    "Created": TrialState.PENDING,
    "Running": TrialState.RUNNING,
    "Succeeded": TrialState.SUCCEEDED,
    "Failed": TrialState.FAILED,
    "Killed": TrialState.KILLED,
    "MetricsUnavailable": TrialState.METRICS_UNAVAILABLE,
    "EarlyStopped": TrialState.EARLY_STOPPED,
}


def experiment_of_trial(trial: dict[str, Any]) -> str | None:
    """The Experiment a Trial belongs to: Katib's label, else its owner."""
    metadata = trial.get("metadata") or {}
    label = (metadata.get("labels") or {}).get(EXPERIMENT_LABEL)
    if isinstance(label, str) and label:
        return label
    for owner in metadata.get("ownerReferences") or []:
        if isinstance(owner, dict) and owner.get("kind") == "Experiment":
            name = owner.get("name")
            return str(name) if name else None
    return None


def record_of(experiment: dict[str, Any], trials: Iterable[dict[str, Any]]) -> ExperimentRecord:
    """The record of a run that Katib drives, from its Experiment and its Trials."""
    metadata = experiment.get("metadata") or {}
    status = _mapping(experiment.get("status"))
    ordered = sorted(
        trials,
        key=lambda t: (
            str((t.get("metadata") or {}).get("creationTimestamp") or ""),
            str((t.get("metadata") or {}).get("name") or ""),
        ),
    )
    record = ExperimentRecord(
        name=str(metadata.get("name") or ""),
        namespace=metadata.get("namespace"),
        trials=[trial_record(t) for t in ordered],
        start_time=_text(status.get("startTime")),
        completion_time=_text(status.get("completionTime")),
    )
    record.completion = completion_of(experiment)
    return record


def completion_of(experiment: dict[str, Any]) -> Completion | None:
    """How Katib says the experiment ended (None: it has not)."""
    last = _holding(_mapping(experiment.get("status")).get("conditions"))
    if last is None or last.get("type") not in ("Succeeded", "Failed"):
        return None
    return Completion(
        condition=str(last["type"]),
        reason=str(last.get("reason") or ""),
        message=str(last.get("message") or ""),
    )


def trial_record(trial: dict[str, Any]) -> TrialRecord:
    metadata = trial.get("metadata") or {}
    spec = _mapping(trial.get("spec"))
    status = _mapping(trial.get("status"))
    assignments = tuple(
        (str(a.get("name")), str(a.get("value")))
        for a in spec.get("parameterAssignments") or []
        if isinstance(a, dict) and a.get("name") is not None
    )
    last = _holding(status.get("conditions"))
    kind = str(last.get("type")) if last else "Created"
    state = _STATES.get(kind, TrialState.PENDING)
    observation = _mapping(status.get("observation"))
    metrics = tuple(
        summary
        for summary in (_summary(m) for m in observation.get("metrics") or [])
        if summary is not None
    )
    return TrialRecord(
        name=str(metadata.get("name") or ""),
        assignments=assignments,
        state=state,
        reason=str((last or {}).get("reason") or f"Trial{kind}"),
        message=str((last or {}).get("message") or ""),
        metrics=metrics,
        start_time=_text(status.get("startTime")),
        completion_time=_text(status.get("completionTime")),
    )


def _summary(metric: Any) -> MetricSummary | None:
    if not isinstance(metric, dict) or not metric.get("name"):
        return None
    values = {key: _number(metric.get(key)) for key in ("min", "max", "latest")}
    latest_text = metric.get("latest")
    if (
        values["latest"] is None
        and isinstance(latest_text, str)
        and latest_text not in ("", "unavailable")
    ):
        return MetricSummary.of_text(str(metric["name"]), latest_text)  # DARTS's genotype
    if any(v is None for v in values.values()):
        return None  # Katib's "unavailable": nothing was read
    low, high, latest = values["min"], values["max"], values["latest"]
    assert low is not None and high is not None and latest is not None
    return MetricSummary(str(metric["name"]), low, high, latest)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # nan and inf as such, as the controller reads them
    except (TypeError, ValueError):
        return None


def _holding(conditions: Any) -> dict[str, Any] | None:
    """The last condition whose status is True."""
    held = [c for c in conditions or [] if isinstance(c, dict) and str(c.get("status")) == "True"]
    return held[-1] if held else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return str(value) if value else None
