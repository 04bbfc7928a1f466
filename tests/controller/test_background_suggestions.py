"""A slow algorithm does not hold the run loop: trials that finish while a suggestion is
being computed are recorded when they finish, not when the suggestion arrives."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from controller.algorithms.base import Assignments, Suggester, SuggesterFactory
from controller.algorithms.registry import make_suggester
from controller.core.records import ExperimentRecord
from controller.executors.local.executor import LocalExecutor
from generator import (
    SearchSpace,
    algorithm,
    container,
    double,
    experiment,
    job,
    maximize,
    random_search,
    tpe,
)
from generator.katib.defaults import with_defaults
from generator.katib.models import AlgorithmSpec, ParameterSpec
from tests.conftest import ForwardingSuggester, ProjectFactory, run_in_dev

TRAIN = "import sys, time; time.sleep(0.3); print('accuracy=0.5')"


class SlowAfterFirst(ForwardingSuggester):
    """A real tpe suggester whose every suggestion after the first takes 1.5 s, the way a
    Gaussian process refit can."""

    def __init__(self, inner: Suggester):
        super().__init__(inner)
        self.calls = 0

    def suggest(self, count: int) -> list[Assignments]:
        self.calls += 1
        if self.calls > 1:
            time.sleep(1.5)
        return self.inner.suggest(count)


def slow_factory(spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str) -> Suggester:
    return SlowAfterFirst(make_suggester(spec, parameters, goal))


def seconds(start: str, end: str) -> float:
    parse = lambda text: datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def run_with(
    root: Path,
    logs: Path,
    chosen: AlgorithmSpec,
    factory: SuggesterFactory,
    *,
    max_trials: int | None = 3,
    parallel: int = 2,
) -> ExperimentRecord:
    """Run an experiment of one double `x` whose trials sleep 0.3 s, with this algorithm
    spec and suggester."""
    space = SearchSpace(x=double(0.0, 1.0))
    spec = with_defaults(
        experiment(
            "background",
            objective=maximize("accuracy"),
            algorithm=chosen,
            parameters=space,
            max_trial_count=max_trials,
            parallel_trial_count=parallel,
            trial=job(
                container(image="t:1", command=["python", "-c", TRAIN], args=space.cli_args())
            ),
        )
    )
    return run_in_dev(spec, root, LocalExecutor(root, logs), suggester_factory=factory)


def test_trials_are_recorded_while_a_suggestion_is_computed(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    # tpe learns from results: it is asked off the loop
    record = run_with(make_project(), tmp_path / "logs", tpe(random_state=1), slow_factory)
    assert len(record.trials) == 3
    first, second, _ = record.trials
    for trial in (first, second):
        assert trial.start_time and trial.completion_time
        assert seconds(trial.start_time, trial.completion_time) < 1.2  # not held for 1.5 s


def test_algorithms_that_do_not_learn_are_asked_on_the_loop(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    """random, sobol and grid take a fraction of a millisecond and never wait for results:
    they are asked on the loop's own thread (a thread hop costs more than the question)."""
    import threading

    asked_on: set[str] = set()

    class Recording(SlowAfterFirst):
        def suggest(self, count: int) -> list[Assignments]:
            asked_on.add(threading.current_thread().name)
            return self.inner.suggest(count)

    def factory(spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str) -> Suggester:
        return Recording(make_suggester(spec, parameters, goal))

    root = make_project()
    for chosen, thread in ((random_search(random_state=1), "MainThread"), (tpe(), "suggester")):
        asked_on.clear()
        record = run_with(root, tmp_path / "logs", chosen, factory)
        assert len(record.trials) == 3
        assert {name.split("_")[0] for name in asked_on} == {thread}


class Rungs:
    """Suggests like hyperband between rungs: one new point for each finished trial, and
    nothing while it waits for results; four points in all."""

    def __init__(self) -> None:
        self.owed, self.given, self.calls = 2, 0, 0

    @property
    def exhausted(self) -> bool:
        return self.given >= 4

    def suggest(self, count: int) -> list[Assignments]:
        self.calls += 1
        take = min(count, self.owed, 4 - self.given)
        points = [(("x", f"0.{self.given + i}"),) for i in range(take)]
        self.owed -= take
        self.given += take
        return points

    def observe(self, assignments: Assignments, value: float | None) -> None:
        self.owed += 1

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        raise AssertionError("not resumed here")

    def reserve(self, assignments: Assignments) -> None:
        raise AssertionError("not resumed here")


@pytest.mark.parametrize("name", ["random", "tpe"])  # asked on the loop / on its thread
def test_an_algorithm_waiting_for_results_is_asked_again_when_a_trial_finishes(
    make_project: ProjectFactory, tmp_path: Path, name: str
) -> None:
    rungs = Rungs()
    record = run_with(
        make_project(),
        tmp_path / "logs",
        algorithm(name),
        lambda *_: rungs,
        max_trials=None,
        parallel=3,
    )
    assert [t.state.value for t in record.trials] == ["Succeeded"] * 4
    assert record.completion is not None
    assert record.completion.reason == "ExperimentSuggestionEndReached"
    assert rungs.calls <= 6  # once at the start, then at most once a finished trial
