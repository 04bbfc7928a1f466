"""The reconcile core as a table: (spec budget, trial records) -> decision."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from controller.core.reconcile import (
    GOAL_REACHED,
    MAX_TRIALS_REACHED,
    Decision,
    Tally,
    reconcile,
    replaceable_unread,
)
from controller.core.records import MetricSummary, TrialRecord, TrialState
from generator.katib.models import ExperimentSpec, MetricStrategy, ObjectiveSpec

S, F, R, MU = (
    TrialState.SUCCEEDED,
    TrialState.FAILED,
    TrialState.RUNNING,
    TrialState.METRICS_UNAVAILABLE,
)


def spec(
    max_trials: int | None = 6, parallel: int = 2, max_failed: int | None = 3
) -> ExperimentSpec:
    objective = ObjectiveSpec(
        type="maximize",
        goal=0.9,
        objective_metric_name="accuracy",
        metric_strategies=[MetricStrategy(name="accuracy", value="max")],
    )
    return ExperimentSpec(
        objective=objective,
        max_trial_count=max_trials,
        parallel_trial_count=parallel,
        max_failed_trial_count=max_failed,
    )


def trials(*states: TrialState, best: float = 0.5) -> list[TrialRecord]:
    metric = (MetricSummary("accuracy", best / 2, best, best / 2),)
    return [
        TrialRecord(f"t{i}", (), state=state, metrics=metric if state is S else ())
        for i, state in enumerate(states)
    ]


@pytest.mark.parametrize(
    "budget,records,expected",
    [
        ({}, [], Decision(2, (), None)),
        ({}, trials(R), Decision(1, (), None)),
        ({}, trials(R, R), Decision(0, (), None)),
        ({}, trials(S, S, S, S, R), Decision(1, (), None)),
        ({}, trials(S, S, S, S, R, R), Decision(0, (), None)),
        ({"parallel": 4}, trials(S, S, S), Decision(3, (), None)),
        ({"max_trials": None}, trials(S, S, S, S, S, S, S), Decision(2, (), None)),
        ({}, trials(S, MU, S, S, S, R), Decision(0, (), None)),
    ],
)
def test_how_many_trials_to_start(
    budget: dict,
    records: list[TrialRecord],
    expected: Decision,  # type: ignore[type-arg]
) -> None:
    assert reconcile(spec(**budget), records) == expected


def test_max_trial_count_counts_every_finished_trial() -> None:
    decision = reconcile(spec(max_failed=None), trials(S, F, MU, S, S, S))
    assert decision.completion is not None
    assert decision.completion.reason == MAX_TRIALS_REACHED


def test_max_failed_counts_failed_and_metrics_unavailable() -> None:
    decision = reconcile(spec(), trials(F, MU, S, F))
    assert decision.completion is not None
    assert (decision.completion.condition, decision.completion.reason) == (
        "Failed",
        "ExperimentFailed",
    )


def test_zero_max_failed_fails_on_the_first_failure_only() -> None:
    assert reconcile(spec(max_failed=0), trials(S)).completion is None
    assert reconcile(spec(max_failed=0), trials(S, F)).completion is not None


def test_the_goal_is_inclusive_and_running_trials_are_stopped() -> None:
    records = [*trials(S, R), *trials(S, best=0.9)[:1]]
    records[2] = TrialRecord("t9", (), state=S, metrics=records[2].metrics)
    decision = reconcile(spec(), records)
    assert decision.completion is not None and decision.completion.reason == GOAL_REACHED
    assert decision.stop == ("t1",)
    assert decision.start == 0


def test_the_goal_comes_before_the_failure_limit() -> None:
    best = TrialRecord("best", (), state=S, metrics=trials(S, best=1.0)[0].metrics)
    records = [*trials(F, F, F), best]
    decision = reconcile(spec(), records)
    assert decision.completion is not None and decision.completion.reason == GOAL_REACHED


FINAL = [S, F, MU, TrialState.EARLY_STOPPED, TrialState.KILLED]


@st.composite
def lifecycles(draw: st.DrawFn) -> tuple[ExperimentSpec, list[tuple[int, TrialRecord]]]:
    """A spec and a run's changes, in order: (index, the trial's new record); an index one
    past the end adds a trial. Trials start pending or running and end once."""
    chosen = spec(
        max_trials=draw(st.none() | st.integers(1, 12)),
        parallel=draw(st.integers(1, 4)),
        max_failed=draw(st.none() | st.integers(0, 4)),
    )
    changes: list[tuple[int, TrialRecord]] = []
    states: list[TrialState] = []
    for _ in range(draw(st.integers(0, 30))):
        open_ = [i for i, state in enumerate(states) if state.is_active]
        if open_ and draw(st.booleans()):
            index = draw(st.sampled_from(open_))
            if states[index] is TrialState.PENDING and draw(st.booleans()):
                state = R
            else:
                state = draw(st.sampled_from(FINAL))
        else:
            index, state = len(states), draw(st.sampled_from([TrialState.PENDING, R]))
            states.append(state)
        states[index] = state
        value = draw(st.floats(0.0, 1.0) | st.just(math.nan))
        metrics = (MetricSummary("accuracy", value, value, value),) if draw(st.booleans()) else ()
        changes.append((index, TrialRecord(f"t{index}", (), state=state, metrics=metrics)))
    return chosen, changes


@given(lifecycles(), st.booleans())
def test_a_tally_kept_up_to_date_decides_as_the_trials_do(
    run: tuple[ExperimentSpec, list[tuple[int, TrialRecord]]], ended: bool
) -> None:
    chosen, changes = run
    tally = Tally(chosen)
    records: list[TrialRecord] = []
    for index, trial in changes:
        if index == len(records):
            tally.change(None, trial)
            records.append(trial)
        else:
            tally.change(records[index], trial)
            records[index] = trial
        assert reconcile(chosen, tally, ended, 3) == reconcile(chosen, records, ended, 3)


def test_a_finished_trial_does_not_change() -> None:
    tally = Tally(spec())
    done = trials(S)[0]
    tally.change(None, done)
    with pytest.raises(ValueError, match="has finished"):
        tally.change(done, done)


@settings(max_examples=500)
@given(
    st.none() | st.integers(1, 10),
    st.integers(1, 4),
    st.none() | st.integers(0, 4),
    st.booleans(),
    st.lists(st.sampled_from(FINAL), max_size=8),
    st.integers(1, 4),
    st.none() | st.integers(1, 4),
    st.integers(1, 2),
)
def test_a_trial_is_replaced_unread_exactly_when_no_result_of_it_matters(
    max_trials: int | None,
    parallel: int,
    max_failed: int | None,
    goal: bool,
    finished: list[TrialState],
    running: int,
    capacity: int | None,
    unread: int,
) -> None:
    """replaceable_unread says yes exactly when every result the ending trial may have
    (a failure, no metric, a success of any value), with every result of the other trials
    that ended unread before it, leaves the experiment running with a slot to fill."""
    assume(unread <= running)
    chosen = spec(max_trials=max_trials, parallel=parallel, max_failed=max_failed)
    if not goal:
        assert chosen.objective is not None
        chosen = chosen.model_copy(
            update={"objective": chosen.objective.model_copy(update={"goal": None})}
        )
    records = trials(*finished, *[R] * running, best=0.3)
    tally = Tally.of(chosen, records)
    if reconcile(chosen, tally, capacity=capacity).completion is not None:
        return  # complete already: the loop replaces nothing
    readings = [(), *[(MetricSummary("accuracy", v, v, v),) for v in (0.0, 0.95, 1.0)]]
    outcomes = [
        [
            TrialRecord(ending.name, (), state=state, metrics=metrics)
            for state in (S, F, MU, TrialState.EARLY_STOPPED)
            for metrics in readings
        ]
        for ending in records[len(records) - unread :]
    ]

    def goes_on(ended: tuple[TrialRecord, ...]) -> bool:
        kept = records[: len(records) - unread]
        decision = reconcile(chosen, [*kept, *ended], capacity=capacity)
        return decision.completion is None and decision.start > 0

    expected = all(map(goes_on, itertools.product(*outcomes)))
    assert replaceable_unread(chosen, tally, capacity, unread) == expected
