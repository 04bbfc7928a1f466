"""The run loop's order of work and its resumes, with real trial processes: a trial that
ends is replaced before anything else is done (before its output is read where no result
of it can end the experiment), and a resume whose experiment turns out complete already
does not wait for trials it will never run."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from controller.algorithms.base import Assignments, Suggester
from controller.algorithms.registry import make_suggester
from controller.core.records import ExperimentRecord, MetricSummary, TrialRecord, TrialState
from controller.core.trialspec import Command
from controller.engine.loop import run_experiment
from controller.executors.local.executor import LocalExecutor
from controller.metrics.collectors import Collector, collector_for
from controller.sinks.git.repo import GitRepo
from controller.sinks.git.sink import GitStatusSink
from generator import SearchSpace, container, double, experiment, job, maximize, random_search
from generator.katib.defaults import with_defaults
from generator.katib.models import AlgorithmSpec, Experiment, MetricsCollectorSpec, ParameterSpec
from tests.conftest import ForwardingSuggester, ProjectFactory, run_in_dev


def trivial(
    max_trials: int, parallel: int, goal: float | None = None, seconds: float = 0.0
) -> Experiment:
    space = SearchSpace(x=double(0.0, 1.0))
    code = f"import time; time.sleep({seconds}); print('accuracy=0.5')"
    return with_defaults(
        experiment(
            "loop",
            objective=maximize("accuracy", goal=goal),
            algorithm=random_search(random_state=3),
            parameters=space,
            max_trial_count=max_trials,
            parallel_trial_count=parallel,
            trial=job(
                container(
                    image="t:1",
                    command=["python", "-c", code],
                    args=space.cli_args(),
                )
            ),
        )
    )


class Journal:
    """What the executor started and what the algorithm was told, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.assignments: dict[Assignments, str] = {}  # which trial ran each point


class JournalExecutor(LocalExecutor):
    """Notes each start: by the loop, or from the standby by the exit it replaced (noted
    as the loop hears of that exit: the successor had started before the exit was told)."""

    def __init__(self, root: Path, logs: Path, journal: Journal):
        super().__init__(root, logs)
        self.journal = journal
        self.from_standby: list[str] = []

    def start(self, trial: str, command: Command) -> Path:
        self.journal.events.append(f"start {trial}")
        return super().start(trial, command)

    def successor_of(self, trial: str) -> str | None:
        successor = super().successor_of(trial)
        if successor is not None:
            self.journal.events.append(f"start {successor}")
            self.from_standby.append(successor)
        return successor


class JournalSuggester(ForwardingSuggester):
    def __init__(self, inner: Suggester, journal: Journal):
        super().__init__(inner)
        self.journal = journal

    def observe(self, assignments: Assignments, value: float | None) -> None:
        self.journal.events.append(f"observe {assignments}")
        self.inner.observe(assignments, value)


class JournalCollector:
    """A collector that notes whose output it reads."""

    def __init__(self, inner: Collector, journal: Journal):
        self.inner, self.journal = inner, journal

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def summaries(
        self, output: Path, metrics_file: Path | None
    ) -> tuple[tuple[MetricSummary, ...], str]:
        self.journal.events.append(f"read {output.stem}")
        return self.inner.summaries(output, metrics_file)


def journaled_run(
    root: Path, logs: Path, experiment: Experiment, monkeypatch: pytest.MonkeyPatch
) -> tuple[ExperimentRecord, list[str], list[str]]:
    """Run `experiment`; its record, what was started, read and told to the algorithm, in
    order, and the trials that started from the executor's standby."""
    journal = Journal()

    def factory(spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str) -> Suggester:
        return JournalSuggester(make_suggester(spec, parameters, goal), journal)

    def collector(spec: MetricsCollectorSpec | None, wanted: Sequence[str]) -> JournalCollector:
        return JournalCollector(collector_for(spec, wanted), journal)

    monkeypatch.setattr("controller.engine.loop.collector_for", collector)
    executor = JournalExecutor(root, logs, journal)
    record = run_in_dev(experiment, root, executor, suggester_factory=factory)
    names = {f"observe {t.assignments}": f"observe {t.name}" for t in record.trials}
    return record, [names.get(event, event) for event in journal.events], executor.from_standby


def test_an_ended_trial_is_replaced_before_its_result_is_read(
    make_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a goal, no result of one trial can end the experiment before its budget:
    each trial's successor starts as soon as it exits, then its output is read, then the
    algorithm hears of it; the last trial has no successor."""
    record, events, _ = journaled_run(
        make_project(), tmp_path / "logs", trivial(max_trials=5, parallel=1), monkeypatch
    )
    assert [t.state for t in record.trials] == [TrialState.SUCCEEDED] * 5
    assert events == [
        "start loop-0001",
        *[
            event
            for n in range(1, 5)
            for event in (f"start loop-{n + 1:04d}", f"read loop-{n:04d}", f"observe loop-{n:04d}")
        ],
        "read loop-0005",
        "observe loop-0005",
    ]


def test_a_successor_is_started_by_the_exit_it_replaces(
    make_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a trial runs, the loop hands its successor to the executor, which starts it
    the moment the trial exits, from the thread that saw the exit (on the core the trial
    has just left) instead of waiting for the loop to hear of the exit."""
    record, events, standby = journaled_run(
        make_project(),
        tmp_path / "logs",
        trivial(max_trials=5, parallel=1, seconds=0.5),  # time for the loop to hand it over
        monkeypatch,
    )
    assert [t.state for t in record.trials] == [TrialState.SUCCEEDED] * 5
    assert standby == [f"loop-{n:04d}" for n in range(2, 6)]
    assert events[:4] == [
        "start loop-0001",
        "start loop-0002",
        "read loop-0001",
        "observe loop-0001",
    ]
    for earlier, later in zip(record.trials, record.trials[1:], strict=False):
        assert later.start_time == earlier.completion_time  # it started as the other ended


def test_a_trial_whose_result_may_reach_the_goal_is_read_before_another_starts(
    make_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, events, standby = journaled_run(
        make_project(), tmp_path / "logs", trivial(max_trials=5, parallel=1, goal=0.5), monkeypatch
    )
    assert standby == []
    assert record.completion is not None
    assert record.completion.reason == "ExperimentGoalReached"
    assert [t.state for t in record.trials] == [TrialState.SUCCEEDED]  # nothing killed
    assert events == ["start loop-0001", "read loop-0001", "observe loop-0001"]


def test_a_resume_that_finds_the_goal_reached_does_not_run_the_interrupted_trials(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    """The controller died after a trial reached the goal and before it recorded the
    experiment's end: the trial that was running then is not run again, and the run ends."""
    root = make_project()
    reached = (MetricSummary("accuracy", 0.95, 0.95, 0.95, (0.95,)),)
    previous = ExperimentRecord("loop", "hpo-dev", start_time="2026-01-01T00:00:00.000000Z")
    previous.trials += [
        TrialRecord("loop-0001", (("x", "0.1"),), TrialState.SUCCEEDED, metrics=reached),
        TrialRecord("loop-0002", (("x", "0.2"),), TrialState.RUNNING, "TrialRunning"),
    ]
    executor = JournalExecutor(root, tmp_path / "logs", Journal())
    result: list[ExperimentRecord] = []

    def run() -> None:
        result.append(
            run_experiment(
                trivial(max_trials=4, parallel=2, goal=0.9),
                environment="dev",
                executor=executor,
                sink=GitStatusSink(GitRepo(root), "dev"),
                previous=previous,
            )
        )

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=30)
    executor.shutdown()
    assert result, "the run did not end"
    record = result[0]
    assert record.completion is not None
    assert record.completion.reason == "ExperimentGoalReached"
    assert executor.journal.events == []  # nothing started
    interrupted = record.trials[1]
    assert interrupted.state is TrialState.KILLED
    assert interrupted.message == "not run again: the experiment had completed"
    assert interrupted.restarts == 1


@pytest.mark.parametrize("goal", [None, 0.9])
def test_every_trial_that_ends_is_written_to_the_status(
    make_project: ProjectFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    goal: float | None,
) -> None:
    """With writes not held back by the clock, the status is rewritten as each trial ends
    (whether its successor started before its output was read, without a goal, or after)."""
    monkeypatch.setattr("controller.engine.loop.SAVE_INTERVAL", 0.0)
    written: list[int] = []

    def checkpoint(record: ExperimentRecord) -> None:
        written.append(sum(not t.state.is_active for t in record.trials))

    root = make_project()
    executor = LocalExecutor(root, tmp_path / "logs")
    run_in_dev(trivial(max_trials=4, parallel=1, goal=goal), root, executor, checkpoint=checkpoint)
    assert sorted(set(written)) == [0, 1, 2, 3, 4]
