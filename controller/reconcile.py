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

from controller.records import Completion, TrialRecord, TrialState
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
    name = spec.objective.objective_metric_name
    summary = trial.metric(name)
    if summary is None:
        return None
    strategy = next(
        (s.value for s in spec.objective.metric_strategies or [] if s.name == name), "latest"
    )
    return summary.value(strategy)


def best_trial(spec: ExperimentSpec, trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The finished trial with the best objective value (the first of equals)."""
    maximize = spec.objective is not None and spec.objective.type == "maximize"
    best: tuple[float, TrialRecord] | None = None
    for trial in trials:
        if trial.state not in (TrialState.SUCCEEDED, TrialState.EARLY_STOPPED):
            continue
        value = objective_value(spec, trial)
        if value is None or value != value:  # absent or nan
            continue
        if best is None or (value > best[0] if maximize else value < best[0]):
            best = (value, trial)
    return best[1] if best else None


def completion(spec: ExperimentSpec, trials: Sequence[TrialRecord]) -> Completion | None:
    objective = spec.objective
    best = best_trial(spec, trials)
    if objective is not None and objective.goal is not None and best is not None:
        value = objective_value(spec, best)
        assert value is not None
        reached = (
            value >= objective.goal if objective.type == "maximize" else (value <= objective.goal)
        )
        if reached:
            return Completion(
                "Succeeded",
                GOAL_REACHED,
                "Experiment has succeeded because Objective goal has reached",
            )
    failed = sum(1 for t in trials if t.state.is_failed)
    limit = spec.max_failed_trial_count
    if limit is not None and failed != 0 and failed >= limit:
        return Completion(
            "Failed", FAILED, "Experiment has failed because max failed count has reached"
        )
    finished = sum(1 for t in trials if not t.state.is_active)
    if spec.max_trial_count is not None and finished >= spec.max_trial_count:
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
    active = [t.name for t in trials if t.state.is_active]
    done = completion(spec, trials)
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
        finished = len(trials) - len(active)
        room = min(parallel, spec.max_trial_count - finished) - len(active)
    return Decision(max(room, 0), (), None)


def restartable(spec: ExperimentSpec, trials: Sequence[TrialRecord], done: Completion) -> bool:
    """Whether a finished run continues under a raised budget, as Katib's resume does: it
    ended on maxTrialCount, its resumePolicy allows it, and the budget now has room."""
    return (
        done.reason == MAX_TRIALS_REACHED
        and spec.resume_policy in RESTARTABLE_POLICIES
        and (spec.max_trial_count is None or spec.max_trial_count > len(trials))
    )
