"""The pure reconcile core: from an Experiment's spec and its trial records, how many
trials to start, which to stop, and whether the experiment is done. No I/O here.
An algorithm with nothing more to suggest completes the experiment with
ExperimentSuggestionEndReached once its last trials finish (Katib loops instead).

Katib's completion rules, in Katib's order (`UpdateExperimentStatusCondition`): the goal
(inclusive), then maxFailedTrialCount (Failed and MetricsUnavailable trials), then
maxTrialCount (every finished trial). Unlike Katib, trials still running when the
experiment completes are stopped, and MetricsUnavailable trials count as finished when
deciding how many trials to create, so exactly maxTrialCount trials run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.core.records import Completion, TrialRecord
from generator.katib.models import ExperimentSpec
from generator.validation.rules.update import MAX_TRIALS_REACHED, RESTARTABLE_POLICIES

GOAL_REACHED = "ExperimentGoalReached"
SUGGESTION_END_REACHED = "ExperimentSuggestionEndReached"
FAILED = "ExperimentFailed"


@dataclass(frozen=True)
class Decision:
    start: int
    stop: tuple[str, ...]
    completion: Completion | None


def objective_value(spec: ExperimentSpec, trial: TrialRecord) -> float | None:
    """The trial's objective as Katib reads it: by the metric's strategy."""
    if spec.objective is None:
        return None
    name, strategy = _objective_reading(spec)
    summary = trial.metric(name)
    return None if summary is None else summary.value(strategy)


def _objective_reading(spec: ExperimentSpec) -> tuple[str, str]:
    """The objective metric's name and strategy (`latest` unless metricStrategies says)."""
    assert spec.objective is not None
    name = spec.objective.objective_metric_name
    strategy = next(
        (s.value for s in spec.objective.metric_strategies or [] if s.name == name), "latest"
    )
    return name, strategy


def best_trial(spec: ExperimentSpec, trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The finished trial with the best objective value (the first of equals). Where the
    objective was reported only as text (DARTS's genotype), the latest such trial, as
    Katib chooses."""
    if spec.objective is None:
        return None
    maximize = spec.objective.type == "maximize"
    name, strategy = _objective_reading(spec)
    best: TrialRecord | None = None
    best_value = 0.0
    latest_text: TrialRecord | None = None
    for trial in trials:
        if not trial.state.is_scored:
            continue
        summary = trial.metric(name)
        if summary is None:
            continue
        if summary.text is not None:
            latest_text = trial
            continue
        value = summary.value(strategy)
        if value != value:  # nan
            continue
        if best is None or (value > best_value if maximize else value < best_value):
            best, best_value = trial, value
    return best or latest_text


def objective_shown(spec: ExperimentSpec, trial: TrialRecord) -> str:
    """The trial's objective for people: its text, or the number by the strategy."""
    if spec.objective is None:
        return ""
    name, strategy = _objective_reading(spec)
    summary = trial.metric(name)
    return "" if summary is None else summary.shown(strategy)


def assignments_shown(assignments: Sequence[tuple[str, str]], width: int = 60) -> str:
    """`name=value, ...` for a log line, each value cut to `width` characters (NAS
    assignments are whole JSON documents)."""
    return ", ".join(
        f"{name}={value if len(value) <= width else value[: width - 1] + '…'}"
        for name, value in assignments
    )


class Tally:
    """What reconcile reads of the trials: which are active, how many finished and failed,
    and the best objective value so far. `of` counts a list of trials; a run loop keeps its
    own up to date with `change` as each trial starts and ends, so that a turn of the loop
    costs the same at the thousandth trial as at the first."""

    def __init__(self, spec: ExperimentSpec):
        self._reading = _objective_reading(spec) if spec.objective is not None else None
        self._maximize = spec.objective is not None and spec.objective.type == "maximize"
        self.active: dict[str, None] = {}  # names of trials pending or running, in order
        self.finished = 0
        self.failed = 0  # counted against maxFailedTrialCount
        self.best: float | None = None  # the best objective value of a scored trial

    @classmethod
    def of(cls, spec: ExperimentSpec, trials: Sequence[TrialRecord]) -> Tally:
        tally = cls(spec)
        for trial in trials:
            tally.change(None, trial)
        return tally

    def change(self, old: TrialRecord | None, new: TrialRecord) -> None:
        """`new` takes the place of `old` (None: a trial added). A finished trial is final:
        it never changes again within a run."""
        state = new.state
        if old is not None:
            if not old.state.is_active:
                raise ValueError(f"trial {old.name!r} has finished: it does not change")
            if state.is_active:
                return  # pending to running: still active, in its place
            del self.active[old.name]
        elif state.is_active:
            self.active[new.name] = None
            return
        self.finished += 1
        if state.is_failed:
            self.failed += 1
        if state.is_scored and self._reading is not None:
            name, strategy = self._reading
            summary = new.metric(name)
            value = None if summary is None else summary.value(strategy)
            if (
                value is not None
                and value == value
                and (  # nan never counts
                    self.best is None
                    or (value > self.best if self._maximize else value < self.best)
                )
            ):
                self.best = value

    def forget(self, name: str) -> None:
        """An active trial leaves the run unfinished (the run halts; it runs again when the
        run resumes): neither active nor finished."""
        del self.active[name]


def _completion(spec: ExperimentSpec, tally: Tally) -> Completion | None:
    objective = spec.objective
    if objective is not None and objective.goal is not None:
        value = tally.best
        if value is not None and (
            value >= objective.goal if objective.type == "maximize" else value <= objective.goal
        ):
            return Completion(
                "Succeeded",
                GOAL_REACHED,
                "Experiment has succeeded because Objective goal has reached",
            )
    limit = spec.max_failed_trial_count
    if limit is not None and tally.failed != 0 and tally.failed >= limit:
        return Completion(
            "Failed", FAILED, "Experiment has failed because max failed count has reached"
        )
    if spec.max_trial_count is not None and tally.finished >= spec.max_trial_count:
        return Completion(
            "Succeeded",
            MAX_TRIALS_REACHED,
            "Experiment has succeeded because max trial count has reached",
        )
    return None


def reconcile(
    spec: ExperimentSpec,
    trials: Sequence[TrialRecord] | Tally,
    suggestions_ended: bool = False,
    capacity: int | None = None,
) -> Decision:
    """`trials`: the trial records, or a Tally of them kept up to date by the caller.
    `suggestions_ended`: the algorithm has nothing more to suggest (a used-up grid).
    `capacity`: at most this many trials at once, whatever parallelTrialCount says (what
    the machine can bear)."""
    tally = trials if isinstance(trials, Tally) else Tally.of(spec, trials)
    active = tally.active
    done = _completion(spec, tally)
    if done is not None:
        return Decision(0, tuple(active), done)
    if suggestions_ended:
        if active:
            return Decision(0, (), None)  # let the last trials finish
        return Decision(
            0,
            (),
            Completion(
                "Succeeded",
                SUGGESTION_END_REACHED,
                "Experiment has succeeded because the algorithm has nothing more to suggest",
            ),
        )
    return Decision(free_slots(spec, tally, capacity), (), None)


def free_slots(spec: ExperimentSpec, tally: Tally, capacity: int | None = None) -> int:
    """How many trials may start now, as far as parallelism and the budget go."""
    return max(_room(spec, tally.finished, len(tally.active), capacity), 0)


def _room(spec: ExperimentSpec, finished: int, active: int, capacity: int | None) -> int:
    """How many more trials may start now."""
    parallel = min(spec.parallel_trial_count or 1, capacity or 1 << 30)
    if spec.max_trial_count is None:
        return parallel - active
    return min(parallel, spec.max_trial_count - finished) - active


def replaceable_unread(
    spec: ExperimentSpec, tally: Tally, capacity: int | None = None, unread: int = 1
) -> bool:
    """Whether a trial that has just ended (still active in `tally`) may be replaced before
    its result is read, where `unread` trials (it among them) have ended with their results
    unread: whatever their results, the experiment goes on (there is no goal to reach; as
    many more failures stay below maxFailedTrialCount; they are not the last trials of
    maxTrialCount) and, once they count as finished, a slot is free. Then the run loop
    starts the next trial first and reads the results after."""
    objective = spec.objective
    if objective is not None and objective.goal is not None:
        return False
    finished = tally.finished + unread
    limit = spec.max_failed_trial_count
    if limit is not None and tally.failed + unread >= limit:
        return False
    if spec.max_trial_count is not None and finished >= spec.max_trial_count:
        return False
    return _room(spec, finished, len(tally.active) - unread, capacity) > 0


def restartable(spec: ExperimentSpec, trials: Sequence[TrialRecord], done: Completion) -> bool:
    """Whether a finished run continues under a raised budget, as Katib's resume does: it
    ended on maxTrialCount, its resumePolicy allows it, and the budget now has room."""
    return (
        done.reason == MAX_TRIALS_REACHED
        and spec.resume_policy in RESTARTABLE_POLICIES
        and (spec.max_trial_count is None or spec.max_trial_count > len(trials))
    )
