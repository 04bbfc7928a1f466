"""The decision step as tables: (the run's state, an event) -> actions. Nothing runs: no
executor, no algorithm, no clock; each row builds a state, hands the step one event, and
compares the actions it returns (and, where it matters, the records after)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from controller.core import step
from controller.core.reconcile import GOAL_REACHED, MAX_TRIALS_REACHED, SUGGESTION_END_REACHED
from controller.core.records import (
    Completion,
    ExperimentRecord,
    MetricSummary,
    Suggestion,
    TrialExit,
    TrialRecord,
    TrialState,
)
from controller.core.resume import resumed
from controller.earlystopping.medianstop import MedianStop
from generator.katib.models import ExperimentSpec, ObjectiveSpec

S, F, R, P, MU = (
    TrialState.SUCCEEDED,
    TrialState.FAILED,
    TrialState.RUNNING,
    TrialState.PENDING,
    TrialState.METRICS_UNAVAILABLE,
)
FAILED = "ExperimentFailed"


def spec(
    *,
    max_trials: int | None = 6,
    parallel: int = 2,
    max_failed: int | None = 3,
    goal: float | None = None,
) -> ExperimentSpec:
    objective = ObjectiveSpec(type="maximize", goal=goal, objective_metric_name="accuracy")
    return ExperimentSpec(
        objective=objective,
        max_trial_count=max_trials,
        parallel_trial_count=parallel,
        max_failed_trial_count=max_failed,
    )


def trial(index: int, state: TrialState, value: float = 0.5) -> TrialRecord:
    metrics = (MetricSummary("accuracy", value, value, value, (value,)),) if state is S else ()
    return TrialRecord(f"run-{index:04d}", (("x", str(index)),), state=state, metrics=metrics)


def state_of(
    experiment: ExperimentSpec,
    states: Sequence[TrialState] = (),
    *,
    values: Sequence[float] = (),
    ready: int = 0,
    lookahead: int = 0,
    capacity: int = 100,
    stopper: MedianStop | None = None,
) -> step.RunState:
    trials = [trial(i + 1, s, values[i] if i < len(values) else 0.5) for i, s in enumerate(states)]
    state = step.RunState(
        experiment, ExperimentRecord("run", "ns", trials), capacity, lookahead, stopper
    )
    state.ready = [suggestion(100 + i) for i in range(ready)]
    return state


def suggestion(index: int) -> Suggestion:
    return Suggestion((("x", str(index)),))


def kinds(actions: Sequence[step.Action]) -> list[str]:
    """Each action by its kind and what it names: "Start run-0003", "Request 2", "Save"."""
    shown = []
    for action in actions:
        if isinstance(action, step.Start | step.Ended | step.Announce | step.Offer):
            shown.append(f"{type(action).__name__} {action.trial.name}")
        elif isinstance(action, step.Stop):
            shown.append(f"Stop {action.trial}" + (" early" if action.early else ""))
        elif isinstance(action, step.Request):
            shown.append(f"Request {action.count}")
        elif isinstance(action, step.Tell):
            shown.append("Tell " + ",".join(name for name, _, _ in action.results))
        elif isinstance(action, step.Complete):
            shown.append(f"Complete {action.completion.reason}")
        else:
            shown.append(type(action).__name__)
    return shown


def start_all(state: step.RunState, actions: Sequence[step.Action]) -> None:
    """What the engine does with Start: the trial runs."""
    for action in actions:
        if isinstance(action, step.Start):
            step.started(state, action.trial.with_state(R, "TrialRunning"))


# Katib's completion order ----------------------------------------------------------------


@pytest.mark.parametrize(
    "experiment,states,values,reason",
    [
        # the goal wins over maxFailedTrialCount and maxTrialCount reached at once
        (spec(max_trials=4, max_failed=2, goal=0.9), [S, F, F, S], [0.95], GOAL_REACHED),
        # maxFailedTrialCount wins over maxTrialCount
        (spec(max_trials=3, max_failed=2), [F, MU, S], [], FAILED),
        # MetricsUnavailable counts as failed, as Katib counts it
        (spec(max_trials=9, max_failed=2), [F, MU], [], FAILED),
        (spec(max_trials=3, max_failed=5), [S, F, S], [], MAX_TRIALS_REACHED),
        # a goal not reached does not complete
        (spec(max_trials=3, max_failed=5, goal=0.99), [S, S, S], [0.5], MAX_TRIALS_REACHED),
        # maxFailedTrialCount 0: the first failure fails the run (Katib's `failed != 0`)
        (spec(max_trials=9, max_failed=0), [S], [], None),
        (spec(max_trials=9, max_failed=0), [S, F], [], FAILED),
    ],
)
def test_completion_follows_katib_s_order(
    experiment: ExperimentSpec,
    states: list[TrialState],
    values: list[float],
    reason: str | None,
) -> None:
    state = state_of(experiment, states, values=values, ready=5)
    actions = step.react(state, step.Began())
    if reason is None:
        assert not any(isinstance(a, step.Complete) for a in actions)
    else:
        assert kinds(actions)[-1] == f"Complete {reason}"
        assert state.record.completion is not None
        assert state.record.completion.reason == reason


def test_trials_running_at_completion_are_stopped_and_the_run_completes_once_they_end() -> None:
    state = state_of(spec(max_trials=9, goal=0.9), [S, R, R], values=[0.95])
    assert kinds(step.react(state, step.Began())) == ["Stop run-0002", "Stop run-0003"]
    for name in ("run-0002", "run-0003"):
        actions = step.react(state, step.TrialExited(name))
        assert actions == []  # no replacement once complete
        actions = step.react(state, step.TrialResult(TrialExit(name, -15), (), "t"))
        assert state.record.trials[state.position[name]].state is TrialState.KILLED
    assert kinds(actions) == ["Ended run-0003", "Tell run-0003", "Complete " + GOAL_REACHED]


def test_an_algorithm_with_nothing_more_completes_the_run_once_its_trials_end() -> None:
    state = state_of(spec(max_trials=None), [R])
    state.requested = True
    answer = step.SuggestionsReady((), exhausted=True)
    assert kinds(step.react(state, answer)) == []  # the running trial finishes first
    actions = step.react(state, step.TrialExited("run-0001"))
    actions = step.react(state, step.TrialResult(TrialExit("run-0001", 0), (), "t"))
    assert kinds(actions)[-1] == f"Complete {SUGGESTION_END_REACHED}"


# Budget arithmetic with pending suggestions -----------------------------------------------


@pytest.mark.parametrize(
    "max_trials,parallel,states,ready,lookahead,starts,asked_for",
    [
        (6, 2, [], 0, 0, 0, 2),  # two free slots, nothing held: ask for two
        (6, 2, [], 1, 0, 1, 1),  # one held starts, one more asked for
        (6, 2, [R], 0, 0, 0, 1),
        (6, 2, [R, R], 0, 0, 0, None),  # no free slot, no lookahead: ask for nothing
        (6, 2, [R, R], 0, 2, 0, 2),  # lookahead: two ahead
        (6, 2, [R, R], 1, 2, 0, 1),  # one of them held already
        (3, 2, [S, R], 0, 2, 0, 1),  # the budget leaves room for one more trial only
        (3, 2, [S, S, R], 0, 2, 0, None),  # and then for none
        (3, 3, [], 5, 0, 3, None),  # held suggestions beyond the budget are not started
        (None, 2, [S] * 50, 0, 1, 0, 3),  # no budget: slots and lookahead alone
    ],
)
def test_the_algorithm_is_asked_for_what_the_slots_and_the_budget_leave(
    max_trials: int | None,
    parallel: int,
    states: list[TrialState],
    ready: int,
    lookahead: int,
    starts: int,
    asked_for: int | None,
) -> None:
    experiment = spec(max_trials=max_trials, parallel=parallel, max_failed=None)
    state = state_of(experiment, states, ready=ready, lookahead=lookahead)
    shown = kinds(step.react(state, step.Began()))
    assert sum(k.startswith("Start") for k in shown) == starts
    asked = [k for k in shown if k.startswith("Request")]
    assert asked == ([] if asked_for is None else [f"Request {asked_for}"])


def test_no_second_request_while_one_is_unanswered() -> None:
    state = state_of(spec(), [])
    assert kinds(step.react(state, step.Began())) == ["Request 2"]
    assert step.react(state, step.Began()) == []


def test_an_empty_answer_waits_for_a_result_unless_one_came_since_the_request() -> None:
    state = state_of(spec(), [R])
    assert kinds(step.react(state, step.Began())) == ["Request 1"]
    assert step.react(state, step.SuggestionsReady((), exhausted=False)) == []
    assert state.starved  # asked again once a trial has finished, not in a busy loop
    assert step.react(state, step.Began()) == []
    # a request answered empty after a result was told: ask again at once
    state = state_of(spec(parallel=2), [R, R])
    state.lookahead = 1
    assert kinds(step.react(state, step.Began())) == ["Request 1"]
    step.react(state, step.TrialExited("run-0001"))
    actions = step.react(state, step.TrialResult(TrialExit("run-0001", 0), (), "t"))
    assert kinds(actions) == ["Ended run-0001", "Tell run-0001", "Save"]
    assert kinds(step.react(state, step.SuggestionsReady((), exhausted=False))) == ["Request 2"]


# Replacement order -------------------------------------------------------------------------


def test_an_exited_trial_is_replaced_before_its_result_is_read_where_no_result_can_end_it() -> None:
    state = state_of(spec(max_trials=10, max_failed=None), [R, R], ready=1)
    replaced = step.react(state, step.TrialExited("run-0001"))
    assert kinds(replaced) == ["Start run-0003"]
    assert isinstance(replaced[0], step.Start) and not replaced[0].announce
    start_all(state, replaced)
    actions = step.react(state, step.TrialResult(TrialExit("run-0001", 0), (), "t"))
    # its result, then the replacement said to have started, then the algorithm hears
    assert kinds(actions) == [
        "Ended run-0001",
        "Announce run-0003",
        "Tell run-0001",
        "Save",
    ]


def test_exits_heard_together_are_each_replaced_and_each_result_announces_its_own() -> None:
    """Two trials exit before either result is read: both slots are filled at once, and
    each result, when read, announces the trial that took its slot."""
    state = state_of(spec(max_trials=10, max_failed=None), [R, R], ready=2)
    first = step.react(state, step.TrialExited("run-0001"))
    start_all(state, first)
    second = step.react(state, step.TrialExited("run-0002"))
    start_all(state, second)
    assert kinds(first) == ["Start run-0003"] and kinds(second) == ["Start run-0004"]
    results = [
        step.react(state, step.TrialResult(TrialExit(name, 0), (), "t"))
        for name in ("run-0002", "run-0001")
    ]
    assert kinds(results[0])[:2] == ["Ended run-0002", "Announce run-0004"]
    assert kinds(results[1])[:2] == ["Ended run-0001", "Announce run-0003"]


def test_of_exits_heard_together_only_those_no_result_can_end_the_run_are_replaced() -> None:
    """maxFailedTrialCount 2: one unread exit may fail, two may fail the run. The second
    exit's slot waits for its result."""
    state = state_of(spec(max_trials=10, parallel=3, max_failed=2), [R, R, R], ready=2)
    first = step.react(state, step.TrialExited("run-0001"))
    start_all(state, first)
    assert kinds(first) == ["Start run-0004"]
    assert step.react(state, step.TrialExited("run-0002")) == []
    reported = (MetricSummary("accuracy", 0.5, 0.5, 0.5),)
    ended = step.react(state, step.TrialResult(TrialExit("run-0001", 0), reported, "t"))
    assert kinds(ended)[:2] == ["Ended run-0001", "Announce run-0004"]
    assert "Start run-0005" not in kinds(ended)  # run-0002 still holds its slot
    ended = step.react(state, step.TrialResult(TrialExit("run-0002", 0), reported, "t"))
    assert kinds(ended)[:2] == ["Ended run-0002", "Start run-0005"]


@pytest.mark.parametrize(
    "experiment,states",
    [
        (spec(max_trials=10, goal=0.9), [R, R]),  # its result may reach the goal
        (spec(max_trials=10, max_failed=1), [R, R]),  # its failure would fail the run
    ],
)
def test_a_trial_whose_result_may_end_the_run_is_read_before_its_slot_is_filled(
    experiment: ExperimentSpec, states: list[TrialState]
) -> None:
    state = state_of(experiment, states, ready=1, values=[0.5])
    exited = states.index(R) + 1
    assert step.react(state, step.TrialExited(f"run-{exited:04d}")) == []
    reported = (MetricSummary("accuracy", 0.5, 0.5, 0.5),)
    result = step.TrialResult(TrialExit(f"run-{exited:04d}", 0), reported, "t")
    actions = step.react(state, result)
    assert kinds(actions)[:2] == [f"Ended run-{exited:04d}", f"Start run-{len(states) + 1:04d}"]


def test_the_run_resumes_its_interrupted_trials_first() -> None:
    previous = ExperimentRecord("run", "ns", [trial(1, S), trial(2, R), trial(3, R)])
    resume = resumed(previous, spec())
    assert [name for name, _ in resume.rerun] == ["run-0002", "run-0003"]
    assert [name for name, _, _ in resume.history] == ["run-0001"]
    state = step.RunState(spec(), resume.record, capacity=2)
    actions = step.react(state, step.Began())
    assert kinds(actions) == ["Start run-0002", "Start run-0003"]
    assert all(isinstance(a, step.Start) and a.trial.restarts == 1 for a in actions)


def test_a_resumed_run_that_had_completed_runs_nothing_again() -> None:
    previous = ExperimentRecord(
        "run", "ns", [trial(1, S, 0.95), trial(2, R)]
    )  # the goal was reached just before the controller died
    state = step.RunState(spec(goal=0.9), resumed(previous, spec(goal=0.9)).record, capacity=2)
    actions = step.react(state, step.Began())
    assert kinds(actions) == [f"Complete {GOAL_REACHED}"]
    assert state.record.trials[1].state is TrialState.KILLED


# Early stopping ----------------------------------------------------------------------------


def test_a_running_trial_behind_the_median_is_stopped_early() -> None:
    rule = MedianStop(min_trials_required=2, start_step=1)
    state = state_of(spec(max_trials=9), [S, S, R, R], values=[0.9, 0.8], stopper=rule)
    assert step.wanted_reports(state) == ["run-0003", "run-0004"]
    actions = step.react(state, step.Reports({"run-0003": [0.1, 0.2], "run-0004": [0.95]}))
    assert kinds(actions) == ["Stop run-0003 early"]
    assert step.wanted_reports(state) == ["run-0004"]  # run-0003 is being stopped
    step.react(state, step.TrialExited("run-0003"))
    step.react(state, step.TrialResult(TrialExit("run-0003", -15), (), "t"))
    assert state.record.trials[2].state is TrialState.EARLY_STOPPED


def test_early_stopping_waits_for_enough_succeeded_trials() -> None:
    rule = MedianStop(min_trials_required=3, start_step=1)
    state = state_of(spec(max_trials=9), [S, S, R], values=[0.9, 0.8], stopper=rule)
    assert step.wanted_reports(state) == []
    assert step.react(state, step.Reports({"run-0003": [0.0]})) == []


# Handing the next trial to the executor ------------------------------------------------------


def test_the_next_trial_is_offered_only_where_it_may_replace_an_unread_result() -> None:
    state = state_of(spec(max_trials=10, max_failed=None), [R, R], ready=1)
    offered = step.idle(state, offers=True)
    assert kinds(offered) == ["Offer run-0003"]
    assert state.ready == [] and step.idle(state, offers=True) == []  # one at a time
    goal = state_of(spec(max_trials=10, goal=0.9), [R, R], ready=1)
    assert step.idle(goal, offers=True) == []
    assert step.idle(state_of(spec(), [R, R], ready=1), offers=False) == []


def test_an_offered_trial_started_at_an_exit_takes_that_trial_s_slot() -> None:
    state = state_of(spec(max_trials=10, max_failed=None), [R, R], ready=1)
    (offer,) = step.idle(state, offers=True)
    assert isinstance(offer, step.Offer)
    running = offer.trial.with_state(R, "TrialRunning")
    assert step.react(state, step.TrialExited("run-0001", successor=running)) == []
    actions = step.react(state, step.TrialResult(TrialExit("run-0001", 0), (), "t"))
    assert kinds(actions)[:2] == ["Ended run-0001", "Announce run-0003"]
    assert [t.name for t in state.record.trials] == ["run-0001", "run-0002", "run-0003"]


def test_an_offer_is_withdrawn_before_the_run_fills_a_slot_itself_or_completes() -> None:
    state = state_of(spec(max_trials=10, max_failed=None), [R, R], ready=1)
    step.idle(state, offers=True)
    state.tally.active.pop("run-0002")  # a slot comes free without the offer taking it
    state.record.trials[1] = trial(2, F)
    state.tally.finished += 1
    assert kinds(step.react(state, step.Began())) == ["Withdraw"]
    after = step.react(state, step.Withdrawn(held=True))  # back to the loop: it starts it
    assert kinds(after)[0] == "Start run-0003"
    # taken already: the loop waits for the exit that started it
    state = state_of(spec(max_trials=10, max_failed=None), [R, R], ready=1)
    step.idle(state, offers=True)
    state.halting = True
    assert kinds(step.react(state, step.Began())) == ["Withdraw"]
    assert kinds(step.react(state, step.Withdrawn(held=False))) == [
        "Stop run-0001",
        "Stop run-0002",
    ]


def test_a_refused_offer_gives_the_suggestion_back() -> None:
    state = state_of(spec(max_trials=10, max_failed=None), [R, R], ready=1)
    step.idle(state, offers=True)
    assert step.react(state, step.OfferRefused()) == []
    assert state.ready == [Suggestion((("x", "100"),))] and state.offered is None


# Stopping, stalling ------------------------------------------------------------------------


def test_a_stop_asked_stops_every_trial_and_halts_the_run_unfinished() -> None:
    state = state_of(spec(max_trials=10), [S, R, R, R], ready=2)
    shown = kinds(step.react(state, step.StopAsked()))
    assert shown == ["Stop run-0002", "Stop run-0003", "Stop run-0004"]
    assert step.react(state, step.TrialExited("run-0002")) == []  # no replacement
    assert step.react(state, step.TrialResult(TrialExit("run-0002", -15), (), "t")) == []
    # one that ends of itself before the stop reaches it is finished as usual
    step.react(state, step.TrialExited("run-0003"))
    reported = (MetricSummary("accuracy", 0.5, 0.5, 0.5),)
    ended = step.react(state, step.TrialResult(TrialExit("run-0003", 0), reported, "t"))
    assert kinds(ended)[0] == "Ended run-0003"
    step.react(state, step.TrialExited("run-0004"))
    actions = step.react(state, step.TrialResult(TrialExit("run-0004", -15), (), "t"))
    assert kinds(actions)[-1] == "Halt"
    assert state.record.completion is None
    # the stopped ones stay running in the records: a resume runs them again
    states = [t.state for t in state.record.trials]
    assert states == [S, R, TrialState.SUCCEEDED, R]
    assert [name for name, _ in resumed(state.record, spec()).rerun] == ["run-0002", "run-0004"]


def test_an_algorithm_that_answers_nothing_while_nothing_runs_stalls_the_run() -> None:
    state = state_of(spec(), [S])
    (stall,) = step.idle(state, offers=False)
    assert isinstance(stall, step.Stall) and "suggests nothing" in stall.message


def test_completion_is_kept_as_first_reached() -> None:
    state = state_of(spec(max_trials=2, max_failed=None), [S, S])
    step.react(state, step.Began())
    assert state.record.completion == Completion(
        "Succeeded",
        MAX_TRIALS_REACHED,
        "Experiment has succeeded because max trial count has reached",
    )
