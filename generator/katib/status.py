"""The status document of an experiment run, `status/<env>/<name>.yaml`, as one typed
model in Katib's shape: the Experiment's `.status` (conditions, counters and trial lists,
currentOptimalTrial) under `status`, and every trial with its assignments, metrics and
state under `trials`. hpo-controller writes it (the head through these models, each trial
in the same shape, held to `TrialDocument` by the tests); `hpo-gen status`, `hpo-gen best`,
`validate --previous` and the controller's resume read it through `read_status`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from generator.files import yamlio
from generator.katib.base import KatibModel


class StatusError(ValueError):
    """A document that is not a status document: what is wrong, in one line, and the
    file's line where the reader stopped (1 when the whole document is at fault)."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.line = line


class Condition(KatibModel):
    type: str
    status: str
    reason: str
    message: str
    last_update_time: str | None
    last_transition_time: str | None


class ParameterAssignment(KatibModel):
    name: str
    value: str


class Metric(KatibModel):
    """A metric reported as text has Katib's shape: min and max "unavailable", the text
    as latest."""

    name: str
    min: float | Literal["unavailable"]
    max: float | Literal["unavailable"]
    latest: float | str
    values: list[float] | None = None  # the series, in a trial's own metrics


class Observation(KatibModel):
    metrics: list[Metric]


class OptimalTrial(KatibModel):
    best_trial_name: str
    objective_value: float | None
    parameter_assignments: list[ParameterAssignment]
    observation: Observation


class ExperimentStatus(KatibModel):
    """Katib's ExperimentStatus, in its field order."""

    start_time: str | None
    completion_time: str | None = None
    conditions: list[Condition]
    current_optimal_trial: OptimalTrial | None = None
    trials: int
    trials_succeeded: int
    trials_failed: int
    trials_killed: int
    trials_pending: int
    trials_running: int
    trials_early_stopped: int
    trial_metrics_unavailable: int
    succeeded_trial_list: list[str] | None = None
    failed_trial_list: list[str] | None = None
    killed_trial_list: list[str] | None = None
    pending_trial_list: list[str] | None = None
    running_trial_list: list[str] | None = None
    early_stopped_trial_list: list[str] | None = None
    metrics_unavailable_trial_list: list[str] | None = None

    def ended(self) -> Condition | None:
        """The condition the experiment ended with (Succeeded or Failed); None while it
        runs."""
        last = self.conditions[-1] if self.conditions else None
        if self.completion_time and last is not None and last.type in ("Succeeded", "Failed"):
            return last
        return None


class TrialDocument(KatibModel):
    name: str
    state: str
    reason: str
    message: str | None = None
    labels: dict[str, str] | None = None
    parameter_assignments: list[ParameterAssignment]
    metrics: list[Metric]
    start_time: str | None = None
    completion_time: str | None = None
    exit_code: int | None = None
    log: str | None = None
    restarts: int | None = None


class StatusDocument(KatibModel):
    experiment: str
    namespace: str | None
    environment: str
    spec_digest: str
    # The commit of the repository the run was started from, and whether spec/ or the
    # environment's overlay held changes not in it (so the spec it ran may be in no commit).
    spec_commit: str | None = None
    spec_dirty: bool | None = None
    status: ExperimentStatus
    trials: list[TrialDocument] = Field(default_factory=list)

    def head(self) -> dict[str, Any]:
        """The document but its trials, as written: fields given, in the model's order."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude={"trials"})


def load_status_file(path: Path) -> dict[str, Any]:
    """The YAML mapping a status file holds (within yamlio's bounds for data files);
    StatusError where it cannot be read, is not YAML (conflict markers), or holds
    something else than a mapping."""
    try:
        document = yamlio.load(path.read_text(encoding="utf-8"), data=True)
    except (OSError, UnicodeDecodeError, yamlio.YAMLError) as err:
        mark = getattr(err, "problem_mark", None)
        reason = str(getattr(err, "problem", None) or err).splitlines()[0]
        line = mark.line + 1 if mark is not None else 1
        raise StatusError(f"{reason} at line {line}" if mark else reason, line) from err
    if not isinstance(document, dict):
        raise StatusError(f"it holds a YAML {type(document).__name__}, not a status")
    return document


def read_status(document: Any) -> StatusDocument:
    """The status document `document` (parsed YAML) holds; StatusError where it holds
    something else or a status cut short (its trial list and its count disagree)."""
    if not isinstance(document, dict):
        raise StatusError(f"it holds a YAML {type(document).__name__}, not a status")
    try:
        parsed = StatusDocument.model_validate(document)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise StatusError(
            f"{err.error_count()} fields do not fit a status, first {where}: {first['msg']}"
        ) from err
    if parsed.status.trials != len(parsed.trials):
        raise StatusError(
            f"it lists {len(parsed.trials)} trials where its status counts "
            f"{parsed.status.trials}: it was cut short or edited"
        )
    return parsed


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one status timestamp to another; None where either is missing or not
    a timestamp (a status file is input like any other)."""
    if not start or not end:
        return None
    try:
        began = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (ended - began).total_seconds()
