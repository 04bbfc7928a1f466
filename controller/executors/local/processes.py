"""A trial's process on this machine: how it is started (posix_spawn where it runs in the
controller's working directory, one clone-and-exec with its log opened by the child;
subprocess anywhere else), signalled as a process group and reaped; and the watchdog
process that kills the trials of a controller that died. Both ways of starting give a
trial the same stdin (/dev/null), output, session, environment, signal dispositions and
descriptors (0, 1 and 2 only); but glibc's posix_spawn leaves the trial ignoring glibc's
two internal signals (32 and 33, which no glibc program can handle or block), and
setsigdef cannot reset them."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Protocol

from controller.errors import ControllerError

log = logging.getLogger("hpo-controller")

# Variables of the controller's own (its settings, and credentials such as the status
# sink's token or key): never handed to a trial or to the zygote trials are forked from.
CONTROLLER_ONLY_PREFIX = "HPO_CONTROLLER_"


def trial_environment() -> dict[str, str]:
    """What a local trial inherits of this process's environment: all of it but the
    controller's own variables (CONTROLLER_ONLY_PREFIX)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(CONTROLLER_ONLY_PREFIX)}


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
    """A trial started by posix_spawn, waited for by its process id. Thread-safe: the thread
    that follows the trial waits for it while a grace timer may look whether it still runs."""

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


def wait_unreaped(process: Process) -> int:
    """Wait for the trial to exit and return its exit code (negative: the signal that
    killed it), leaving it a zombie where it is this process's child, so that whoever
    hears of the exit can record it before the process id goes; `process.wait()` reaps it
    after. A trial forked by the zygote is reaped there: its exit code comes as it is."""
    if isinstance(process, SpawnedProcess | subprocess.Popen) and process.returncode is None:
        try:
            info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:  # reaped already (a poll() of the grace timer)
            return process.wait()
        if info is not None:
            exited = info.si_code == os.CLD_EXITED
            return info.si_status if exited else -info.si_status
    return process.wait()


class Watchdog:
    """The process that kills this executor's trials if the controller dies before it
    can (`controller.executors.local.watchdog`): every trial's environment carries its token. A
    watchdog that dies while the controller lives (killed by someone) is noticed by a thread
    that waits for it and started again with the same token, so the trials it guarded stay
    guarded."""

    SCRIPT = Path(__file__).with_name("watchdog.py")

    def __init__(self, token: str, process: subprocess.Popen[bytes]):
        self.token, self.process = token, process
        self.restarts = 0
        self._closed = False
        self._lock = threading.Lock()
        threading.Thread(target=self._guard, name="watchdog-guard", daemon=True).start()

    @staticmethod
    def supported() -> bool:
        return os.path.exists("/proc/self/environ")

    @classmethod
    def start(cls) -> Watchdog:
        token = f"{os.getpid()}-{secrets.token_hex(8)}"
        return cls(token, cls._launch(token))

    @classmethod
    def _launch(cls, token: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", str(cls.SCRIPT), token],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for the controller does not reach it
        )

    def _guard(self) -> None:
        while True:
            process = self.process
            process.wait()
            with self._lock:
                if self._closed:
                    return
                if process.stdin is not None:
                    process.stdin.close()
                try:
                    self.process = self._launch(self.token)
                except OSError as err:
                    log.warning("the watchdog died and cannot be started again: %s", err)
                    return
                self.restarts += 1
            log.warning("the watchdog (pid %d) died; started another", process.pid)

    def close(self) -> None:
        """The controller is done: the watchdog sweeps what its trials left, and ends."""
        with self._lock:
            self._closed = True
            process = self.process
        assert process.stdin is not None
        process.stdin.close()
        process.wait()


def spawn(program: str, argv: list[str], env: dict[bytes, bytes], log_path: Path) -> SpawnedProcess:
    """Start a trial in this process's working directory with posix_spawn: its own session,
    stdin from /dev/null, stdout and stderr to its log (created by the child)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), LOG_FLAGS, 0o666),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(
        program, argv, env, file_actions=actions, setsid=True, setsigdef=RESTORED_SIGNALS
    )
    return SpawnedProcess(pid)


def popen(
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


def executable(name: str, env: dict[bytes, bytes]) -> str:
    """The program a trial's argv[0] names, looked up as subprocess does: a name with a
    slash as it is, any other along the PATH the trial gets."""
    if os.path.dirname(name):
        return name
    for folder in os.get_exec_path(env):  # type: ignore[arg-type]
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def runs_here(folder: Path) -> bool:
    """Whether `folder` is this process's working directory."""
    try:
        return os.path.samestat(os.stat(folder), os.stat("."))
    except OSError:
        return False


def keep_descriptors_to_ourselves() -> None:
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


def signal_group(process: Process, signum: signal.Signals) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as err:
        raise ControllerError(f"cannot signal trial process {process.pid}: {err}") from err
