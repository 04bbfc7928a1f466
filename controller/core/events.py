"""What a log line tells, as fields for `--log-format json`: each event of a run (a trial
started, ended, stopped early; an experiment resumed or ended) as a dict that rides on
the log record (`extra=event(...)`), so a JSON line carries `experiment`, `trial`,
`state`, `reason`, `metrics` and times as fields rather than only inside its message.
The text format shows the message alone. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from controller.core.records import MetricSummary, TrialRecord

EVENT_FIELD = "hpo_event"  # the LogRecord attribute that holds the fields


def event(kind: str, **fields: Any) -> Mapping[str, Any]:
    """`extra=` for a log call: the event's kind and its fields (None ones left out)."""
    return {EVENT_FIELD: {"event": kind} | {k: v for k, v in fields.items() if v is not None}}


def metric_fields(metrics: tuple[MetricSummary, ...]) -> dict[str, Any]:
    """Each metric's min, max and latest, as numbers where they are finite and as text
    otherwise (nan); a metric reported as text (a DARTS genotype) as that text."""
    shown: dict[str, Any] = {}
    for m in metrics:
        if m.text is not None:
            shown[m.name] = m.text
        else:
            shown[m.name] = {
                "min": _number(m.min),
                "max": _number(m.max),
                "latest": _number(m.latest),
            }
    return shown


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def trial_fields(experiment: str, trial: TrialRecord) -> dict[str, Any]:
    """A trial's event fields: who, state and why, parameters, metrics, times, log."""
    return {
        "experiment": experiment,
        "trial": trial.name,
        "state": trial.state.value,
        "reason": trial.reason,
        "stateMessage": trial.message or None,
        "parameters": dict(trial.assignments),
        "metrics": metric_fields(trial.metrics) if trial.metrics else None,
        "startTime": trial.start_time,
        "completionTime": trial.completion_time,
        "exitCode": trial.exit_code,
        "log": trial.log,
    }
