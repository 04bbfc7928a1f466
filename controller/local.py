"""The local trial executor: each trial is a process group running the primary container's
command (never through a shell), its output in a log file. Exits arrive as events on a
queue, so the run loop blocks instead of polling.

Locally, a command starting with `python` or `python3` runs under the controller's own
interpreter, so trials see the packages installed beside hpo-controller."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controller.errors import ControllerError
from controller.trialspec import Command

PYTHON_NAMES = ("python", "python3")
DEFAULT_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class TrialExit:
    trial: str
    exit_code: int


class TrialExecutor(Protocol):
    def start(self, trial: str, command: Command) -> Path:
        """Start the trial; returns the file its output goes to."""
        ...

    def stop(self, trial: str) -> None: ...

    def next_exit(self, timeout: float | None = None) -> TrialExit | None: ...

    def shutdown(self) -> None: ...


class LocalExecutor:
    def __init__(self, workdir: Path, log_dir: Path, grace_seconds: float = DEFAULT_GRACE_SECONDS):
        self._workdir = workdir
        self._log_dir = log_dir
        self._grace = grace_seconds
        self._exits: queue.Queue[TrialExit] = queue.Queue()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(self, trial: str, command: Command) -> Path:
        argv = list(command.argv)
        if argv[0] in PYTHON_NAMES:
            argv[0] = sys.executable
        env = {**os.environ, **dict(command.env)}
        env["KATIB_TRIAL_NAME"] = trial
        env.setdefault("PYTHONUNBUFFERED", "1")
        cwd = self._workdir
        if command.working_dir and Path(command.working_dir).is_dir():
            cwd = Path(command.working_dir)
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self._log_dir / f"{trial}.log"
        with open(log_path, "wb") as log:
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=cwd,
                    env=env,
                    start_new_session=True,  # its own process group, stopped as one
                )
            except OSError as err:
                log.write(f"cannot start {argv[0]!r}: {err}\n".encode())
                self._exits.put(TrialExit(trial, 127))
                return log_path
        with self._lock:
            self._processes[trial] = process
        threading.Thread(target=self._wait, args=(trial, process), daemon=True).start()
        return log_path

    def _wait(self, trial: str, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        with self._lock:
            self._processes.pop(trial, None)
        self._exits.put(TrialExit(trial, code))

    def stop(self, trial: str) -> None:
        """SIGTERM the trial's process group, SIGKILL after the grace period."""
        with self._lock:
            process = self._processes.get(trial)
        if process is None:
            return
        _signal_group(process, signal.SIGTERM)
        timer = threading.Timer(self._grace, _signal_group, (process, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def next_exit(self, timeout: float | None = None) -> TrialExit | None:
        try:
            return self._exits.get(timeout=timeout)
        except queue.Empty:
            return None

    def shutdown(self) -> None:
        """Kill every trial still running (the controller is going away)."""
        with self._lock:
            running = list(self._processes.values())
        for process in running:
            _signal_group(process, signal.SIGKILL)
        for process in running:
            process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as err:
        raise ControllerError(f"cannot signal trial process {process.pid}: {err}") from err
