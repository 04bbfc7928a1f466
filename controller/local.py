"""The local trial executor: each trial is a process group running the primary container's
command (never through a shell), its output in a log file. The run loop blocks until a
trial exits (seen through its pidfd, or reported by a waiting thread) instead of checking
on them in turn. A trial past its deadline (activeDeadlineSeconds) is stopped like any
other: SIGTERM, then SIGKILL. Should the controller die before it can stop them, a
watchdog process kills its cold trials (`controller.watchdog`); warm ones die with the
interpreter they were forked from, which dies with the controller.

Locally, a command starting with `python` or `python3` runs under the controller's own
interpreter, so trials see the packages installed beside hpo-controller; with a warm pool,
`python -m MODULE` trials are forked from an interpreter that has the heavy modules
imported already (`controller.warmstart`)."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from controller.errors import ControllerError
from controller.trialspec import Command, Demand
from controller.warmstart import PYTHON_NAMES, WarmPool, warm_module
from controller.watchdog import MARK

DEFAULT_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class TrialExit:
    trial: str
    exit_code: int
    deadline_exceeded: bool = False


class TrialExecutor(Protocol):
    def start(self, trial: str, command: Command) -> Path:
        """Start the trial; returns the file its output goes to."""
        ...

    def trial_file(self, trial: str, suffix: str) -> Path:
        """A fresh path (nothing there) for a file or folder of the trial's own: its
        metrics file or event folder."""
        ...

    def stop(self, trial: str) -> None: ...

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


@dataclass(frozen=True)
class Machine:
    cores: float
    memory: int  # bytes available to new processes

    @classmethod
    def this_one(cls) -> Machine:
        """The cores this process may run on and the memory the kernel calls available."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        memory = 0
        try:
            with open("/proc/meminfo") as info:
                for line in info:
                    if line.startswith("MemAvailable:"):
                        memory = int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            memory = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return cls(float(cores or os.cpu_count() or 1), memory)

    def capacity(self, demand: Demand) -> int:
        """Trials that fit side by side (at least one): by their cores, and by their
        memory when they name it."""
        fits = math.floor(self.cores / demand.cpu + 1e-9)
        if demand.memory and self.memory:
            fits = min(fits, self.memory // demand.memory)
        return max(int(fits), 1)


class Process(Protocol):
    """What the executor needs of a running trial: a subprocess.Popen or a WarmProcess."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class LocalExecutor:
    def __init__(
        self,
        workdir: Path,
        log_dir: Path,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        warm: WarmPool | None = None,
        machine: Machine | None = None,
    ):
        self._machine = machine or Machine.this_one()
        self._workdir = workdir
        self._log_dir = log_dir
        self._log_dir_made = False
        self._grace = grace_seconds
        self._warm = warm
        # What every trial inherits: this process's environment when the executor began
        # (read once; os.environ costs a decode per variable on every read), and encoded
        # once for cold starts (Popen would encode every variable of it for every trial).
        self._environment = dict(os.environ)
        self._encoded: dict[bytes, bytes] = {}
        self._processes: dict[str, Process] = {}
        self._expired: set[str] = set()
        self._lock = threading.Lock()
        # Exits, and wake-ups, that other threads report: put here, then a byte down the
        # pipe so that a waiting next_exit() looks.
        self._reported: deque[TrialExit | None] = deque()
        self._wake_read, self._wake_write = os.pipe()
        self._closed = False
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._poll = select.poll()
        self._poll.register(self._wake_read, select.POLLIN)
        # A process started here is waited for by next_exit() itself, through a pidfd
        # (Linux): no thread, and no hand-over between threads, per trial.
        self._pidfds: dict[int, tuple[str, Process]] = {}
        # Other processes (warm ones, or where there are no pidfds) by threads, reused from
        # trial to trial: starting a thread per trial costs milliseconds on busy cores.
        self._waiters = ThreadPoolExecutor(max_workers=4096, thread_name_prefix="trial-wait")
        self._watchdog: Watchdog | None = None  # started with the first trial

    def start(self, trial: str, command: Command) -> Path:
        argv = list(command.argv)
        if argv[0] in PYTHON_NAMES:
            argv[0] = sys.executable
        if self._watchdog is None and Watchdog.supported():
            self._watchdog = Watchdog.start()
            self._environment[MARK] = self._watchdog.token
            self._encoded = {}  # encoded again, with the mark
        cwd = self._workdir
        if command.working_dir and Path(command.working_dir).is_dir():
            cwd = Path(command.working_dir)
        self._make_log_dir()
        log_path = self._log_dir / f"{trial}.log"
        module = warm_module(argv) if self._warm is not None else None
        process: Process
        if self._warm is not None and module is not None:
            log_path.write_bytes(b"")  # the warm child appends to it
            env = {**self._environment, **dict(command.env), "KATIB_TRIAL_NAME": trial}
            env.setdefault("PYTHONUNBUFFERED", "1")
            process = self._warm.spawn(module, argv[3:], env, cwd, log_path)
        else:
            with open(log_path, "wb") as log:
                try:
                    process = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=cwd,
                        env=self._encoded_environment(trial, command.env),
                        start_new_session=True,  # its own process group, stopped as one
                    )
                except OSError as err:
                    log.write(f"cannot start {argv[0]!r}: {err}\n".encode())
                    self._report(TrialExit(trial, 127))
                    return log_path
        with self._lock:
            self._processes[trial] = process
        pidfd = _pidfd(process) if isinstance(process, subprocess.Popen) else None
        if pidfd is not None:
            self._pidfds[pidfd] = (trial, process)
            self._poll.register(pidfd, select.POLLIN)
        else:
            self._waiters.submit(self._wait, trial, process)
        if command.deadline_seconds is not None:
            timer = threading.Timer(command.deadline_seconds, self._expire, (trial,))
            timer.daemon = True
            timer.start()
        return log_path

    def _encoded_environment(
        self, trial: str, extra: tuple[tuple[str, str], ...]
    ) -> dict[bytes, bytes]:
        """The trial's environment as bytes: what it inherits, then the template's env,
        then KATIB_TRIAL_NAME; PYTHONUNBUFFERED=1 unless set."""
        if not self._encoded:
            self._encoded = {os.fsencode(k): os.fsencode(v) for k, v in self._environment.items()}
        env = self._encoded.copy()
        for name, value in extra:
            env[os.fsencode(name)] = os.fsencode(value)
        env[b"KATIB_TRIAL_NAME"] = os.fsencode(trial)
        env.setdefault(b"PYTHONUNBUFFERED", b"1")
        return env

    def _make_log_dir(self) -> None:
        if not self._log_dir_made:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            self._log_dir_made = True

    def trial_file(self, trial: str, suffix: str) -> Path:
        self._make_log_dir()
        path = self._log_dir / f"{trial}{suffix}"
        if path.is_dir():  # a trial's event folder, from an earlier run of it
            shutil.rmtree(path)
        path.unlink(missing_ok=True)
        return path

    def _expire(self, trial: str) -> None:
        with self._lock:
            if trial not in self._processes:
                return
            self._expired.add(trial)
        self.stop(trial)

    def _wait(self, trial: str, process: Process) -> None:
        self._report(self._ended(trial, process))

    def _ended(self, trial: str, process: Process) -> TrialExit:
        code = process.wait()
        with self._lock:
            self._processes.pop(trial, None)
            expired = trial in self._expired
        return TrialExit(trial, code, expired)

    def _report(self, exit: TrialExit | None) -> None:
        """From any thread: an exit (None: only wake the loop) for next_exit()."""
        self._reported.append(exit)
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
                os.write(self._wake_write, b"x")

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

    def capacity(self, demand: Demand) -> int:
        return self._machine.capacity(demand)

    def next_exit(self, timeout: float | None = None) -> TrialExit | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._harvest(0)  # exits already there come first, whatever else is waiting
        while not self._reported:
            if deadline is None:
                self._harvest(None)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._harvest(math.ceil(left * 1000))
        return self._reported.popleft()

    def _harvest(self, timeout_ms: int | None) -> None:
        """Wait up to `timeout_ms` (None: for ever) for an exit or a wake-up; queue the
        exits of processes that ended."""
        for fd, _ in self._poll.poll(timeout_ms):
            if fd == self._wake_read:
                with contextlib.suppress(BlockingIOError):
                    while os.read(fd, 4096):
                        pass
                continue
            trial, process = self._pidfds.pop(fd)
            self._poll.unregister(fd)
            os.close(fd)
            self._reported.append(self._ended(trial, process))

    def wake(self) -> None:
        self._report(None)

    def shutdown(self) -> None:
        """Kill every trial still running (the controller is going away)."""
        with self._lock:
            running = list(self._processes.values())
        for process in running:
            _signal_group(process, signal.SIGKILL)
        for process in running:
            process.wait()
        self._waiters.shutdown(wait=False)
        with self._lock:
            if not self._closed:
                self._closed = True
                for fd in (*self._pidfds, self._wake_read, self._wake_write):
                    os.close(fd)
                self._pidfds.clear()
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None


class Watchdog:
    """The process that kills this executor's trials if the controller dies before it
    can (`controller.watchdog`): every trial's environment carries its token."""

    SCRIPT = Path(__file__).with_name("watchdog.py")

    def __init__(self, token: str, process: subprocess.Popen[bytes]):
        self.token, self.process = token, process

    @staticmethod
    def supported() -> bool:
        return os.path.exists("/proc/self/environ")

    @classmethod
    def start(cls) -> Watchdog:
        token = f"{os.getpid()}-{secrets.token_hex(8)}"
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(cls.SCRIPT), token],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for the controller does not reach it
        )
        return cls(token, process)

    def close(self) -> None:
        """The controller is done: the watchdog sweeps what its trials left, and ends."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def _pidfd(process: subprocess.Popen[bytes]) -> int | None:
    """A file descriptor that becomes readable when the process exits (Linux 5.3+)."""
    try:
        return os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfds here: a waiting thread instead
        return None


def _signal_group(process: Process, signum: signal.Signals) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as err:
        raise ControllerError(f"cannot signal trial process {process.pid}: {err}") from err
