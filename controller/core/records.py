"""Trial records: the durable state of an experiment run. Everything the controller
decides follows from the Experiment spec and these records."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

Assignments = tuple[tuple[str, str], ...]  # parameter name -> value, as Katib's wire has it
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Suggestion:
    """A trial to create: its assignments and the labels the algorithm puts on it (pbt's
    generation and parent)."""

    assignments: Assignments
    labels: Labels = ()

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)


@dataclass(frozen=True)
class TrialExit:
    """A trial's process (or workload) ended: its exit code, whether it was stopped for
    running past its deadline (activeDeadlineSeconds), and for a workload whose status
    says it failed, the reason and message its condition gave; `at`: when the executor saw
    it end, where that comes before the run hears of it (a workload's end, seen in the
    cluster while its output is still read), as Katib's status writes times."""

    trial: str
    exit_code: int
    deadline_exceeded: bool = False
    reason: str = ""
    message: str = ""
    at: str | None = None


class TrialState(StrEnum):
    """Katib's trial conditions (`trial_types.go`)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    EARLY_STOPPED = "EarlyStopped"
    KILLED = "Killed"

    @property
    def is_active(self) -> bool:
        return self is TrialState.PENDING or self is TrialState.RUNNING

    @property
    def is_failed(self) -> bool:
        """Counted against maxFailedTrialCount, as Katib counts them."""
        return self is TrialState.FAILED or self is TrialState.METRICS_UNAVAILABLE

    @property
    def is_scored(self) -> bool:
        """Its objective counts: the trial ran to its end or was stopped early."""
        return self is TrialState.SUCCEEDED or self is TrialState.EARLY_STOPPED


@dataclass(frozen=True)
class MetricSummary:
    """Katib's observation of one metric: min, max and latest of the reported values. A
    metric reported only as text (DARTS's genotype, which Katib's collector keeps as the
    latest value its filter captures) has `text`, and nan for min, max and latest."""

    name: str
    min: float
    max: float
    latest: float
    values: tuple[float, ...] = ()  # every reported value, in order
    text: str | None = None

    @classmethod
    def of_text(cls, name: str, text: str) -> MetricSummary:
        nan = float("nan")
        return cls(name, nan, nan, nan, (), text)

    def shown(self, strategy: str = "latest") -> str:
        """The value for people: the text, or the number by the strategy."""
        return self.text if self.text is not None else f"{self.value(strategy):g}"

    def value(self, strategy: str) -> float:
        if strategy == "min":
            return self.min
        if strategy == "max":
            return self.max
        return self.latest


@dataclass(frozen=True)
class TrialRecord:
    name: str
    assignments: tuple[tuple[str, str], ...]
    state: TrialState = TrialState.PENDING
    reason: str = "TrialCreated"
    message: str = ""
    metrics: tuple[MetricSummary, ...] = ()
    start_time: str | None = None
    completion_time: str | None = None
    exit_code: int | None = None
    log: str | None = None
    restarts: int = 0  # times the trial was re-run because its controller died
    labels: tuple[tuple[str, str], ...] = ()  # put on the trial by its algorithm (pbt)

    def metric(self, name: str) -> MetricSummary | None:
        for summary in self.metrics:
            if summary.name == name:
                return summary
        return None

    def with_state(self, state: TrialState, reason: str, message: str = "") -> TrialRecord:
        return replace(self, state=state, reason=reason, message=message)

    @property
    def suggestion(self) -> Suggestion:
        """What the algorithm suggested for it."""
        return Suggestion(self.assignments, self.labels)


@dataclass(frozen=True)
class Completion:
    """How an experiment ended: Katib's condition type, reason and message."""

    condition: str  # "Succeeded" or "Failed"
    reason: str
    message: str


@dataclass
class ExperimentRecord:
    """A run of one Experiment: its trials in creation order, and how it ended."""

    name: str
    namespace: str | None
    trials: list[TrialRecord] = field(default_factory=list)
    start_time: str | None = None
    completion_time: str | None = None
    completion: Completion | None = None


def tally(trials: list[TrialRecord]) -> dict[str, int]:
    """How many trials are in each state, by Katib's name, in the order first seen."""
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.value] = counts.get(trial.state.value, 0) + 1
    return counts
