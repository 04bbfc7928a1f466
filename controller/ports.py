"""The seams of the engine: what it needs of whatever runs the trials, keeps the results
and tells the time. The engine (`controller.engine`) imports these, never an adapter;
`controller.executors.local` (trials as local processes) and `controller.sinks.git`
(status files committed to git) are the adapters today, and a test's in-memory executor
implements the same port.

A TrialExecutor's every method is one any place that runs trials implements for real:
a start, a stop, the exits as they come, how many trials fit. What an executor does to
start trials sooner (the local executor's warm starts and its hand-over of the next trial
at an exit) stays inside it; the engine may use a hand-over through its own optional
seam (`controller.engine.loop.HandOver`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.core.records import TrialExit
from controller.core.trialspec import Command, ConfigMaps, Demand
from generator.katib.models import Experiment

__all__ = [
    "Clock",
    "EnvironmentSpec",
    "ExperimentSource",
    "StatusSink",
    "TrialExecutor",
    "TrialExit",
]

# The time as Katib's status has it: 2024-05-01T12:00:00.123456Z.
Clock = Callable[[], str]


class TrialExecutor(Protocol):
    """Runs trials and reports their exits."""

    # False: a trial is its primary container's command line, run here (with its own
    # metrics file and paths). True: the executor creates the trial's whole object
    # (`Command.manifest`) somewhere else and its output comes back as a file.
    workloads: bool

    def start(self, trial: str, command: Command) -> Path:
        """Start the trial; returns the file its output goes to."""
        ...

    def trial_file(self, trial: str, suffix: str) -> Path:
        """A fresh path (nothing there) for a file or folder of the trial's own: its
        metrics file or event folder."""
        ...

    def stop(self, trial: str) -> None:
        """Stop the trial (its exit is reported as any other)."""
        ...

    def next_exit(self, timeout: float | None = None) -> TrialExit | None:
        """The next trial to end, or None after `timeout` or a wake()."""
        ...

    def wake(self) -> None:
        """Make a waiting next_exit() return None now: something other than an exit (a
        suggestion computed on another thread, a stop asked) needs the engine."""
        ...

    def capacity(self, demand: Demand) -> int:
        """How many trials of this demand fit at once."""
        ...

    def shutdown(self) -> None:
        """Stop every trial still running; nothing starts after this."""
        ...


class StatusSink(Protocol):
    """Keeps an experiment's result files."""

    @property
    def root(self) -> Path:
        """The folder that paths in the status are shown relative to (a repository)."""
        ...

    def write(self, experiment: str, files: dict[str, str]) -> None:
        """Write the result files (name -> text)."""
        ...

    def read(self, experiment: str) -> dict[str, Any] | None:
        """The status document last written, None when there is none."""
        ...


RESULTS_MODES = ("branch", "status-branch", "none")


@dataclass(frozen=True)
class ResultsTarget:
    """Where results go: `mode` "branch" (the branch checked out), "status-branch" (the
    branch `branch`, never one people work on) or "none" (files only); `remote`: where a
    status branch is pushed (None: nowhere); `interval`: seconds between an experiment's
    progress commits (plus one when it ends and one when the controller is stopped);
    `author`, `message`, `trailers`: how its commits read; `protected`: branches that
    results are not committed onto by default."""

    mode: str = "branch"
    branch: str | None = None
    remote: str | None = None
    interval: float = 60.0
    author: str | None = None  # "Name <email>"; None: git's identity
    message: str | None = None  # a template (see generator's MESSAGE_FIELDS); None: default
    trailers: tuple[tuple[str, str], ...] = ()
    # Branches (glob patterns) whose checkout sends "branch" results to the status branch.
    protected: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment holds to run: its Experiments (validated), the ConfigMaps their
    trial templates may name, its namespace (None: several), and the controller's settings
    for it (where trials run, whether `python -m` trials start warm)."""

    environment: str
    namespace: str | None
    executor: str
    warm_starts: bool
    experiments: list[Experiment]
    config_maps: ConfigMaps
    results: ResultsTarget = ResultsTarget()


class ExperimentSource(Protocol):
    """Where an environment's experiments come from."""

    def read(self, environment: str) -> EnvironmentSpec:
        """The environment's experiments and settings, as the controller is to run them."""
        ...
