"""The seams of the run loop: what it needs of whatever runs the trials, keeps the
results and tells the time. The run loop (`controller.engine.loop`) imports these, never an
adapter; `controller.executors.local.executor` (trials as local processes) and
`controller.sinks.git.sink` (status files committed to git) are the adapters today."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.core.trialspec import Command, Demand

# The time as Katib's status has it: 2024-05-01T12:00:00.123456Z.
Clock = Callable[[], str]


@dataclass(frozen=True)
class TrialExit:
    trial: str
    exit_code: int
    deadline_exceeded: bool = False
    successor: str | None = None  # the trial on standby that its exit started


class TrialExecutor(Protocol):
    """Runs trials. `standby`, `withdraw` and `wake` let an executor start a trial the
    moment another exits; one that cannot returns None from `standby`."""

    def start(self, trial: str, command: Command) -> Path:
        """Start the trial; returns the file its output goes to."""
        ...

    def trial_file(self, trial: str, suffix: str) -> Path:
        """A fresh path (nothing there) for a file or folder of the trial's own: its
        metrics file or event folder."""
        ...

    def stop(self, trial: str) -> None: ...

    def standby(self, trial: str, command: Command) -> Path | None:
        """Hold the trial to start the moment a running trial exits, in its place; that
        exit names it as its successor. None when it is not held (the loop starts it)."""
        ...

    def withdraw(self) -> bool:
        """Take back the trial held on standby: whether it was still held."""
        ...

    def next_exit(self, timeout: float | None = None) -> TrialExit | None:
        """The next trial to end, or None after `timeout` or a wake()."""
        ...

    def wake(self) -> None:
        """Make a waiting next_exit() return None now (something else needs the loop)."""
        ...

    def shutdown(self) -> None: ...

    def capacity(self, demand: Demand) -> int:
        """How many trials of this demand can run at once."""
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
