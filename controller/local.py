"""The local trial executor: each trial is a process group running the primary container's
command (never through a shell), its output in a log file. The run loop blocks until a
trial exits (seen through its pidfd, or reported by a waiting thread) instead of checking
on them in turn. A trial past its deadline (activeDeadlineSeconds) is stopped like any
other: SIGTERM, then SIGKILL. Should the controller die before it can stop them, a
watchdog process kills its cold trials (`controller.watchdog`); warm ones die with the
interpreter they were forked from, which dies with the controller.

A trial whose working directory is the controller's own is started with posix_spawn (one
clone-and-exec, its log opened by the child), any other with subprocess; both give the
trial the same stdin (/dev/null), output, session, environment, signal dispositions and
descriptors (0, 1 and 2 only).

Locally, a command starting with `python` or `python3` runs under the controller's own
interpreter, so trials see the packages installed beside hpo-controller; with a warm pool,
`python -m MODULE` trials are forked from an interpreter that has the heavy modules
imported already (`controller.warmstart`)."""

from __future__ import annotations

import contextlib
import errno
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
    """What the executor needs of a running trial: a SpawnedProcess, a subprocess.Popen or a
    WarmProcess."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self) -> int: ...


# What a trial starts with, however it is started: subprocess's defaults (restore_signals,
# close_fds) made explicit for posix_spawn. Python ignores these two signals in itself;
# a trial gets their default actions back.
RESTORED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)
LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


class SpawnedProcess:
    """A trial started by posix_spawn, waited for by its process id. Thread-safe: the run
    loop waits for it while a grace timer may look whether it still runs."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        if self.returncode is None and self._lock.acquire(blocking=False):
            try:
                self._reap(os.WNOHANG)
            finally:
                self._lock.release()
        return self.returncode

    def wait(self) -> int:
        with self._lock:
            while self.returncode is None:
                self._reap(0)
        return self.returncode

    def _reap(self, options: int) -> None:
        if self.returncode is not None:
            return
        try:
            pid, status = os.waitpid(self.pid, options)
        except ChildProcessError:  # reaped elsewhere: its status is lost, as subprocess has it
            self.returncode = 0
            return
        if pid == self.pid:
            self.returncode = os.waitstatus_to_exitcode(status)


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
        self._here: dict[Path, bool] = {}
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
        _keep_descriptors_to_ourselves()
        self._watchdog: Watchdog | None = None
        # Started with the executor, not with its first trial: its start costs an
        # interpreter's start, which the trials would otherwise wait for.
        if Watchdog.supported():
            self._watchdog = Watchdog.start()
            self._environment[MARK] = self._watchdog.token

    def start(self, trial: str, command: Command) -> Path:
        argv = list(command.argv)
        if argv[0] in PYTHON_NAMES:
            argv[0] = sys.executable
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
            encoded = self._encoded_environment(trial, command.env)
            try:
                process = (
                    _spawn(argv, encoded, log_path)
                    if self._is_working_directory(cwd)
                    else _popen(argv, encoded, log_path, cwd)
                )
            except OSError as err:
                log_path.write_bytes(f"cannot start {argv[0]!r}: {err}\n".encode())
                self._report(TrialExit(trial, 127))
                return log_path
        with self._lock:
            self._processes[trial] = process
        pidfd = _pidfd(process) if isinstance(process, (SpawnedProcess, subprocess.Popen)) else None
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

    def _is_working_directory(self, folder: Path) -> bool:
        """Whether a trial in `folder` runs where this process does (asked once a folder:
        the controller never changes its working directory while it runs trials)."""
        known = self._here.get(folder)
        if known is None:
            known = self._here[folder] = _runs_here(folder)
        return known

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
        while not self._reported:
            if deadline is None:
                self._harvest(None)
                continue
            left = deadline - time.monotonic()
            self._harvest(max(math.ceil(left * 1000), 0))  # looks once even when it is time
            if left <= 0:
                break
        return self._reported.popleft() if self._reported else None

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


def _spawn(argv: list[str], env: dict[bytes, bytes], log_path: Path) -> SpawnedProcess:
    """Start a trial in this process's working directory with posix_spawn: its own session,
    stdin from /dev/null, stdout and stderr to its log (created by the child)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), LOG_FLAGS, 0o666),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    executable = _executable(argv[0], env)
    pid = os.posix_spawn(
        executable, argv, env, file_actions=actions, setsid=True, setsigdef=RESTORED_SIGNALS
    )
    return SpawnedProcess(pid)


def _popen(
    argv: list[str], env: dict[bytes, bytes], log_path: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """Start a trial in another working directory (posix_spawn cannot change it here)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group, stopped as one
        )


def _executable(name: str, env: dict[bytes, bytes]) -> str:
    """The program a trial's argv[0] names, looked up as subprocess does: a name with a
    slash as it is, any other along the PATH the trial gets."""
    if os.path.dirname(name):
        return name
    for folder in os.get_exec_path(env):  # type: ignore[arg-type]
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _runs_here(folder: Path) -> bool:
    """Whether `folder` is this process's working directory."""
    try:
        return os.path.samestat(os.stat(folder), os.stat("."))
    except OSError:
        return False


def _keep_descriptors_to_ourselves() -> None:
    """Make every descriptor above stderr close on exec. Python opens its own so (PEP 446);
    this catches those handed down by whoever started the controller, which subprocess's
    close_fds would keep from trials and posix_spawn would not."""
    try:
        numbers = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: nothing to sweep
        return
    for fd in numbers:
        if fd > 2:
            with contextlib.suppress(OSError):  # the listing's own descriptor, now closed
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)


def _pidfd(process: SpawnedProcess | subprocess.Popen[bytes]) -> int | None:
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
