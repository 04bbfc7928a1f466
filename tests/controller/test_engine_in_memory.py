"""The ports are enough for a second executor: an in-memory one, whose trials run nowhere
and report what the test says, drives every algorithm the controller runs and the
early-stopping rule through the same engine as the local executor, and implements every
method of the port."""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.core.records import ExperimentRecord, TrialState
from controller.core.trialspec import Command, Demand
from controller.engine.loop import Engine, Options, run_experiment
from controller.ports import TrialExecutor, TrialExit
from controller.sinks.git.repo import GitRepo
from controller.sinks.git.sink import GitStatusSink
from generator import (
    SearchSpace,
    bayesian_optimization,
    cmaes,
    container,
    double,
    experiment,
    grid,
    hyperband,
    integer,
    job,
    maximize,
    median_stop,
    multivariate_tpe,
    pbt,
    random_search,
    sobol,
    tpe,
)
from generator.katib.defaults import with_defaults
from generator.katib.models import AlgorithmSpec, Experiment


@dataclass(frozen=True)
class Outcome:
    """What a trial does: the lines it prints, its exit code, and whether it keeps running
    until it is stopped (its lines printed so far)."""

    lines: tuple[str, ...]
    exit_code: int = 0
    runs_until_stopped: bool = False


class InMemoryExecutor:
    """Trials that exit as soon as they start (or when stopped), their output written
    where the collector reads it. One thread; nothing runs."""

    workloads = False

    def __init__(self, folder: Path, behave: Callable[[str, dict[str, str]], Outcome]):
        self.folder, self.behave = folder, behave
        self.exits: queue.SimpleQueue[TrialExit | None] = queue.SimpleQueue()
        self.running: set[str] = set()
        self.started: list[str] = []
        self.stopped: list[str] = []
        folder.mkdir(parents=True, exist_ok=True)

    def start(self, trial: str, command: Command) -> Path:
        arguments = dict(a.lstrip("-").split("=", 1) for a in command.argv if "=" in a)
        outcome = self.behave(trial, arguments)
        log = self.folder / f"{trial}.log"
        log.write_text("".join(f"{line}\n" for line in outcome.lines))
        self.started.append(trial)
        if outcome.runs_until_stopped:
            self.running.add(trial)
        else:
            self.exits.put(TrialExit(trial, outcome.exit_code))
        return log

    def trial_file(self, trial: str, suffix: str) -> Path:
        path = self.folder / f"{trial}{suffix}"
        path.unlink(missing_ok=True)
        return path

    def stop(self, trial: str) -> None:
        if trial in self.running:
            self.running.discard(trial)
            self.stopped.append(trial)
            self.exits.put(TrialExit(trial, -15))

    def next_exit(self, timeout: float | None = None) -> TrialExit | None:
        try:
            return self.exits.get(timeout=timeout)
        except queue.Empty:
            return None

    def wake(self) -> None:
        self.exits.put(None)

    def shutdown(self) -> None:
        for trial in sorted(self.running):
            self.stop(trial)

    def capacity(self, demand: Demand) -> int:
        return 1000


def as_port(executor: InMemoryExecutor) -> TrialExecutor:
    return executor  # mypy checks that it implements the port


def accuracy(arguments: dict[str, str]) -> float:
    x, y = float(arguments["x"]), float(arguments["y"])
    return 1 - (x - 0.3) ** 2 - (y - 0.6) ** 2


def experiment_with(
    algorithm: AlgorithmSpec, trials: int, parallel: int = 3, **extra: object
) -> Experiment:
    space = SearchSpace(
        x=double(0.0, 1.0, step=0.1), y=double(0.0, 1.0, step=0.1), epochs=integer(1, 9)
    )
    return with_defaults(
        experiment(
            "memory",
            objective=maximize("accuracy"),
            algorithm=algorithm,
            parameters=space,
            max_trial_count=trials,
            parallel_trial_count=parallel,
            trial=job(container(image="t:1", command=["train"], args=space.cli_args())),
            **extra,  # type: ignore[arg-type]
        )
    )


ALGORITHMS = {
    "random": (random_search(random_state=1), {}),
    "grid": (grid(), {}),
    "tpe": (tpe(random_state=1), {}),
    "multivariate-tpe": (multivariate_tpe(random_state=1), {}),
    "cmaes": (cmaes(random_state=1), {}),
    "sobol": (sobol(), {}),
    "bayesianoptimization": (bayesian_optimization(random_state=1, n_initial_points=3), {}),
    # Katib's rule: parallelTrialCount >= eta^s_max (9 here)
    "hyperband": (
        hyperband(r_l=9, resource_name="epochs", eta=3, random_state=1),
        {"parallel": 9},
    ),
    "pbt": (
        pbt(suggestion_trial_dir="/ckpt", n_population=5, truncation_threshold=0.4),
        {"resume_policy": "FromVolume"},
    ),
}


def run(spec: Experiment, executor: InMemoryExecutor, root: Path) -> ExperimentRecord:
    try:
        return run_experiment(
            spec,
            environment="dev",
            executor=as_port(executor),
            sink=GitStatusSink(GitRepo(root), "dev"),
            volume=root / "volume",
        )
    finally:
        executor.shutdown()


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_runs_through_the_loop_on_the_in_memory_executor(
    tmp_path: Path, name: str
) -> None:
    algorithm, extra = ALGORITHMS[name]
    spec = experiment_with(algorithm, 12, **extra)
    executor = InMemoryExecutor(
        tmp_path / "logs", lambda _, a: Outcome((f"accuracy={accuracy(a):.6f}",))
    )
    record = run(spec, executor, tmp_path)
    assert record.completion is not None and record.completion.condition == "Succeeded"
    assert 0 < len(record.trials) <= 12
    assert all(t.state is TrialState.SUCCEEDED for t in record.trials)
    assert executor.started == [t.name for t in record.trials]
    assert (tmp_path / "status/dev/memory.yaml").is_file()


def test_failures_end_the_experiment_by_katib_s_rule(tmp_path: Path) -> None:
    spec = experiment_with(random_search(random_state=1), 12, max_failed_trial_count=3)
    executor = InMemoryExecutor(tmp_path / "logs", lambda _, a: Outcome(("oops",), exit_code=1))
    record = run(spec, executor, tmp_path)
    assert record.completion is not None
    assert record.completion.reason == "ExperimentFailed"  # Katib's reason for it
    assert record.completion.condition == "Failed"
    failed = [t for t in record.trials if t.state is TrialState.FAILED]
    assert len(failed) == 3  # maxFailedTrialCount reached, as Katib's controller counts
    assert all(t.state in (TrialState.FAILED, TrialState.KILLED) for t in record.trials)


def test_median_stop_stops_a_running_trial_that_is_behind(tmp_path: Path) -> None:
    """The first trials finish with 0.9 at every step; later ones report 0.1 at the same
    steps and keep running: the rule stops them, and they end EarlyStopped."""
    spec = experiment_with(
        random_search(random_state=1),
        6,
        early_stopping=median_stop(min_trials_required=2, start_step=2),
    )

    def behave(trial: str, arguments: dict[str, str]) -> Outcome:
        if int(trial.rsplit("-", 1)[1]) <= 3:
            return Outcome(tuple(f"accuracy={v}" for v in (0.9, 0.9, 0.9)))
        return Outcome(tuple(f"accuracy={v}" for v in (0.1, 0.1, 0.1)), runs_until_stopped=True)

    executor = InMemoryExecutor(tmp_path / "logs", behave)
    record = run(spec, executor, tmp_path)
    late = [t for t in record.trials if int(t.name.rsplit("-", 1)[1]) > 3]
    assert late and all(t.state is TrialState.EARLY_STOPPED for t in late)
    assert sorted(executor.stopped) == sorted(t.name for t in late)


def test_a_stop_asked_halts_the_run_and_a_resume_runs_the_stopped_trials_again(
    tmp_path: Path,
) -> None:
    """The engine's request_stop (from any thread): every trial is stopped, the run ends
    unfinished with them running in its status, and a run resumed from that status runs
    them again and completes."""
    spec = experiment_with(random_search(random_state=1), 4, parallel=2)
    executor = InMemoryExecutor(
        tmp_path / "logs", lambda _, a: Outcome(("accuracy=0.5",), runs_until_stopped=True)
    )
    sink = GitStatusSink(GitRepo(tmp_path), "dev")
    engine: list[Engine] = []

    def on_change(record: ExperimentRecord) -> None:
        if len(executor.started) == 2:
            engine[0].request_stop()

    engine.append(Engine(spec, "dev", executor, sink, Options(on_change=on_change)))
    halted = engine[0].run()
    assert halted.completion is None
    assert [t.state for t in halted.trials] == [TrialState.RUNNING, TrialState.RUNNING]
    assert sorted(executor.stopped) == sorted(executor.started)
    document = sink.read("memory")
    assert document is not None
    assert [t["state"] for t in document["trials"]] == ["Running", "Running"]
    finishing = InMemoryExecutor(tmp_path / "logs", lambda _, a: Outcome(("accuracy=0.5",)))
    record = run_experiment(spec, environment="dev", executor=finishing, sink=sink, previous=halted)
    assert record.completion is not None and record.completion.condition == "Succeeded"
    assert finishing.started[:2] == [t.name for t in halted.trials]  # run again first
    assert [t.restarts for t in record.trials[:2]] == [1, 1]
