"""The run loop's order of work and its resumes, with real trial processes: a trial that
ends is replaced before anything else is done, and a resume whose experiment turns out
complete already does not wait for trials it will never run."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from controller.gitrepo import GitRepo
from controller.local import LocalExecutor
from controller.records import ExperimentRecord, MetricSummary, TrialRecord, TrialState
from controller.running import run_experiment
from controller.samplers import make_suggester
from controller.statusfile import GitStatusSink
from controller.suggestion import Assignments, Suggester
from controller.trialspec import Command
from generator import SearchSpace, container, double, experiment, job, maximize, random_search
from generator.defaults import with_defaults
from generator.models import AlgorithmSpec, Experiment, ParameterSpec
from tests.conftest import ForwardingSuggester, ProjectFactory, run_in_dev


def trivial(max_trials: int, parallel: int, goal: float | None = None) -> Experiment:
    space = SearchSpace(x=double(0.0, 1.0))
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
                    command=["python", "-c", "print('accuracy=0.5')"],
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
    def __init__(self, root: Path, logs: Path, journal: Journal):
        super().__init__(root, logs)
        self.journal = journal

    def start(self, trial: str, command: Command) -> Path:
        self.journal.events.append(f"start {trial}")
        return super().start(trial, command)


class JournalSuggester(ForwardingSuggester):
    def __init__(self, inner: Suggester, journal: Journal):
        super().__init__(inner)
        self.journal = journal

    def observe(self, assignments: Assignments, value: float | None) -> None:
        self.journal.events.append(f"observe {assignments}")
        self.inner.observe(assignments, value)


def test_an_ended_trial_is_replaced_before_the_algorithm_hears_of_it(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    root = make_project()
    journal = Journal()

    def factory(spec: AlgorithmSpec, parameters: Sequence[ParameterSpec], goal: str) -> Suggester:
        return JournalSuggester(make_suggester(spec, parameters, goal), journal)

    executor = JournalExecutor(root, tmp_path / "logs", journal)
    record = run_in_dev(
        trivial(max_trials=5, parallel=1), root, executor, suggester_factory=factory
    )
    names = {f"observe {t.assignments}": f"observe {t.name}" for t in record.trials}
    events = [names.get(event, event) for event in journal.events]
    assert [t.state for t in record.trials] == [TrialState.SUCCEEDED] * 5
    # one at a time: each trial's successor starts first, then the algorithm hears of it
    assert events == [
        "start loop-0001",
        "start loop-0002",
        "observe loop-0001",
        "start loop-0003",
        "observe loop-0002",
        "start loop-0004",
        "observe loop-0003",
        "start loop-0005",
        "observe loop-0004",
        "observe loop-0005",
    ]


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
