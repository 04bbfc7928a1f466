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

from controller.records import Completion, TrialRecord
from generator.models import ExperimentSpec
from generator.rules.update import MAX_TRIALS_REACHED, RESTARTABLE_POLICIES

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
    """The finished trial with the best objective value (the first of equals)."""
    if spec.objective is None:
        return None
    maximize = spec.objective.type == "maximize"
    name, strategy = _objective_reading(spec)
    best: TrialRecord | None = None
    best_value = 0.0
    for trial in trials:
        if not trial.state.is_scored:
            continue
        summary = trial.metric(name)
        if summary is None:
            continue
        value = summary.value(strategy)
        if value != value:  # nan
            continue
        if best is None or (value > best_value if maximize else value < best_value):
            best, best_value = trial, value
    return best


def completion(spec: ExperimentSpec, trials: Sequence[TrialRecord]) -> Completion | None:
    return _completion(spec, trials, _tally(trials))


@dataclass(frozen=True)
class _Tally:
    active: list[str]  # names of the trials still pending or running
    finished: int
    failed: int  # counted against maxFailedTrialCount


def _tally(trials: Sequence[TrialRecord]) -> _Tally:
    """One pass over the trials (reconcile runs at every turn of the loop)."""
    active: list[str] = []
    finished = failed = 0
    for trial in trials:
        state = trial.state
        if state.is_active:
            active.append(trial.name)
        else:
            finished += 1
            if state.is_failed:
                failed += 1
    return _Tally(active, finished, failed)


def _completion(
    spec: ExperimentSpec, trials: Sequence[TrialRecord], tally: _Tally
) -> Completion | None:
    objective = spec.objective
    if objective is not None and objective.goal is not None:
        best = best_trial(spec, trials)
        value = None if best is None else objective_value(spec, best)
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
    trials: Sequence[TrialRecord],
    suggestions_ended: bool = False,
    capacity: int | None = None,
) -> Decision:
    """`suggestions_ended`: the algorithm has nothing more to suggest (a used-up grid).
    `capacity`: at most this many trials at once, whatever parallelTrialCount says (what
    the machine can bear)."""
    tally = _tally(trials)
    active = tally.active
    done = _completion(spec, trials, tally)
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
    parallel = min(spec.parallel_trial_count or 1, capacity or 1 << 30)
    if spec.max_trial_count is None:
        room = parallel - len(active)
    else:
        room = min(parallel, spec.max_trial_count - tally.finished) - len(active)
    return Decision(max(room, 0), (), None)


def restartable(spec: ExperimentSpec, trials: Sequence[TrialRecord], done: Completion) -> bool:
    """Whether a finished run continues under a raised budget, as Katib's resume does: it
    ended on maxTrialCount, its resumePolicy allows it, and the budget now has room."""
    return (
        done.reason == MAX_TRIALS_REACHED
        and spec.resume_policy in RESTARTABLE_POLICIES
        and (spec.max_trial_count is None or spec.max_trial_count > len(trials))
    )
