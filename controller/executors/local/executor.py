"""The local trial executor: each trial is a process group running the primary container's
command (never through a shell), its output in a log file. The run loop blocks until a trial
exits (reported by the thread that waits for it) instead of checking on them in turn; a trial
the loop holds on standby is started by that thread the moment the exit comes, before the loop
hears of it. A trial past its deadline (activeDeadlineSeconds) is stopped like any other:
SIGTERM, then SIGKILL. Should the controller die before it can stop them, a watchdog process
kills its cold trials (`controller.executors.local.watchdog`); warm ones die with the
interpreter they were forked from, which dies with the controller.

How a trial's process is started, signalled and reaped: `controller.executors.local.processes`.

Locally, a command starting with `python` or `python3` runs under the controller's own
interpreter, so trials see the packages installed beside hpo-controller; with a warm pool,
`python -m MODULE` trials are forked from an interpreter that has the heavy modules
imported already (`controller.executors.local.warmstart`)."""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from controller.core.trialspec import Command, Demand
from controller.executors.local.images import image_workdir
from controller.executors.local.processes import (
    Process,
    Watchdog,
    executable,
    keep_descriptors_to_ourselves,
    popen,
    runs_here,
    signal_group,
    spawn,
    trial_environment,
    wait_unreaped,
)
from controller.executors.local.warmstart import PYTHON_NAMES, WarmPool, warm_module
from controller.executors.local.watchdog import MARK
from controller.ports import TrialExit

DEFAULT_GRACE_SECONDS = 10.0


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


class LocalExecutor:
    workloads = False  # trials are command lines run here

    def __init__(
        self,
        workdir: Path,
        log_dir: Path,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        warm: WarmPool | None = None,
        machine: Machine | None = None,
        on_exit: Callable[[TrialExit], None] | None = None,
    ):
        """`on_exit` hears of every exit first, on the thread that sees it, before the
        trial's slot goes to a successor (the run's journal makes it durable there)."""
        self._machine = machine or Machine.this_one()
        self._on_exit = on_exit
        self._workdir = workdir
        self._log_dir = log_dir
        self._log_dir_made = False
        self._grace = grace_seconds
        self._warm = warm
        # What every trial inherits: this process's environment when the executor began
        # (read once; os.environ costs a decode per variable on every read), and encoded
        # once for cold starts (Popen would encode every variable of it for every trial).
        self._environment = trial_environment()
        self._encoded: dict[bytes, bytes] = {}
        self._here: dict[Path, bool] = {}
        self._processes: dict[str, Process] = {}
        self._expired: set[str] = set()
        self._lock = threading.Lock()
        self._handover = threading.Lock()  # held from an exit's look at the standby to its report
        self._closed = False
        # Exits (None: a wake-up) for next_exit(), put there by the threads that wait for
        # the trials; how many of them are exits next_exit() has not handed out yet.
        self._exits: queue.SimpleQueue[TrialExit | None] = queue.SimpleQueue()
        self._unheard = 0
        # The trial held on standby: started by the thread that sees the next exit, which
        # is then its predecessor (successor_of).
        self._standby: _Launch | None = None
        self._successors: dict[str, str] = {}
        # Each running trial is waited for by a thread of its own, reused from trial to
        # trial (starting a thread per trial costs milliseconds on busy cores): the thread
        # that a trial's exit wakes runs on the core the trial has just left, and starting
        # its successor there is what keeps that core busy (a successor started from
        # elsewhere is often placed on the other, idle core and waits for it to wake).
        self._waiters = ThreadPoolExecutor(max_workers=4096, thread_name_prefix="trial-wait")
        keep_descriptors_to_ourselves()
        self._watchdog: Watchdog | None = None
        # Started with the executor, not with its first trial: its start costs an
        # interpreter's start, which the trials would otherwise wait for.
        if Watchdog.supported():
            self._watchdog = Watchdog.start()
            self._environment[MARK] = self._watchdog.token

    def start(self, trial: str, command: Command) -> Path:
        launch = self._prepare(trial, command)
        process = self._begin(launch)
        if process is None:
            self._report(TrialExit(trial, 127))
        else:
            self._waiters.submit(self._follow, trial, process)
        return launch.log_path

    def standby(self, trial: str, command: Command) -> Path | None:
        """Hold the trial ready to start the moment a running trial exits: the thread that
        sees the exit starts it there and then, before the run loop hears of the exit, which
        makes it that exit's successor (`successor_of`). Not held (None) while an exit waits
        unheard in next_exit(), or for a warm start (the zygote's round trip stays with the
        loop). Returns the file its output will go to."""
        launch = self._prepare(trial, command)
        if launch.module is not None:
            return None
        with self._lock:
            if self._closed or self._unheard or self._standby is not None:
                return None
            self._standby = launch
        return launch.log_path

    def successor_of(self, trial: str) -> str | None:
        """The trial on standby that `trial`'s exit started (once: the answer is
        forgotten); None when its exit started none."""
        with self._lock:
            return self._successors.pop(trial, None)

    def withdraw(self) -> bool:
        """Take back the trial held on standby: whether it was still held (it will not
        start). False when none was: it has started, the successor of an exit next_exit()
        hands out."""
        with self._lock:
            held, self._standby = self._standby, None
        return held is not None

    def _prepare(self, trial: str, command: Command) -> _Launch:
        """Everything about the trial's start that can be worked out before it: its
        program, arguments, environment, working directory and log file. A distributed
        trial starts as its replicas' supervisor (`replicas`)."""
        if command.replicas:
            command = self._supervised(trial, command)
        argv = list(command.argv)
        if argv[0] in PYTHON_NAMES:
            argv[0] = sys.executable
        cwd = self._workdir
        if command.working_dir and Path(command.working_dir).is_dir():
            cwd = Path(command.working_dir)
        elif not command.working_dir:
            cwd = image_workdir(command.image) or cwd
        self._make_log_dir()
        log_path = self._log_dir / f"{trial}.log"
        module = warm_module(argv) if self._warm is not None else None
        if module is not None:
            warm_env = {**self._environment, **dict(command.env), "KATIB_TRIAL_NAME": trial}
            warm_env.setdefault("PYTHONUNBUFFERED", "1")
            return _Launch(
                trial, argv, {}, cwd, log_path, command.deadline_seconds, module, warm_env
            )
        encoded = self._encoded_environment(trial, command.env)
        program: str | OSError
        try:
            program = executable(argv[0], encoded)
        except OSError as err:
            program = err  # said in the trial's log when it is to start
        return _Launch(
            trial,
            argv,
            encoded,
            cwd,
            log_path,
            command.deadline_seconds,
            program=program,
            here=self._is_working_directory(cwd),
        )

    def _supervised(self, trial: str, command: Command) -> Command:
        """A distributed trial as one process: the supervisor of its replicas, which
        writes the master's output as the trial's and each worker's beside it."""
        self._make_log_dir()
        plan = self._log_dir / f"{trial}.replicas.json"
        replicas = [
            {
                "rank": 0,
                "argv": list(command.argv),
                "env": {},  # the master's is the trial's own
                "cwd": command.working_dir,
                "log": None,
            },
            *(
                {
                    "rank": r.rank,
                    "argv": list(r.argv),
                    "env": dict(r.env),
                    "cwd": r.working_dir,
                    "log": str(self._log_dir / f"{trial}.{r.role.lower()}-{r.rank}.log"),
                }
                for r in command.replicas
            ),
        ]
        plan.write_text(json.dumps({"replicas": replicas, "grace": self._grace}))
        return replace(
            command,
            argv=(sys.executable, "-m", "controller.executors.local.replicas", str(plan)),
            replicas=(),
        )

    def _begin(self, launch: _Launch) -> Process | None:
        """Start a prepared trial. A command that cannot start fails its trial with exit
        code 127, as a shell has it, said in its log: None then, and the caller reports
        that exit."""
        process: Process
        try:
            if launch.module is not None:
                assert self._warm is not None
                launch.log_path.write_bytes(b"")  # the warm child appends to it
                process = self._warm.spawn(
                    launch.module, launch.argv[3:], launch.warm_env, launch.cwd, launch.log_path
                )
            elif isinstance(launch.program, OSError):
                raise launch.program
            elif launch.here:
                process = spawn(launch.program, launch.argv, launch.env, launch.log_path)
            else:
                process = popen(launch.argv, launch.env, launch.log_path, launch.cwd)
        except OSError as err:
            launch.log_path.write_bytes(f"cannot start {launch.argv[0]!r}: {err}\n".encode())
            return None
        with self._lock:
            closed = self._closed
            if not closed:
                self._processes[launch.trial] = process
        if closed:  # shut down while it started from the standby: killed, reported as not run
            signal_group(process, signal.SIGKILL)
            process.wait()
            return None
        if launch.deadline_seconds is not None:
            timer = threading.Timer(launch.deadline_seconds, self._expire, (launch.trial,))
            timer.daemon = True
            timer.start()
        return process

    def _is_working_directory(self, folder: Path) -> bool:
        """Whether a trial in `folder` runs where this process does (asked once a folder:
        the controller never changes its working directory while it runs trials)."""
        known = self._here.get(folder)
        if known is None:
            known = self._here[folder] = runs_here(folder)
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

    def _follow(self, trial: str, process: Process) -> None:
        """On a thread of its own: wait for the trial to exit, start the trial on standby
        (if one is held) in its place, report the exit; then the same for the successor.
        Exits are reported in the order they took the standby: an exit the loop hears of
        without a successor never comes before one that took the standby, so the loop
        knows of every trial started when it starts one of its own."""
        while True:
            code = wait_unreaped(process)  # recorded below before its process id goes
            with self._handover:
                with self._lock:
                    self._processes.pop(trial, None)
                    expired = trial in self._expired
                    successor, self._standby = self._standby, None
                    if self._closed:
                        successor = None
                    self._unheard += 1  # no new standby until the loop has heard of this
                if self._on_exit is not None:
                    self._on_exit(TrialExit(trial, code, expired))
                process.wait()
                if successor is None:
                    self._exits.put(TrialExit(trial, code, expired))
                    return
                started = self._begin(successor)
                with self._lock:
                    self._successors[trial] = successor.trial
                self._exits.put(TrialExit(trial, code, expired))
                if started is None:
                    self._report(TrialExit(successor.trial, 127))
                    return
            trial, process = successor.trial, started

    def _report(self, exit: TrialExit) -> None:
        if self._on_exit is not None:
            self._on_exit(exit)
        with self._lock:
            self._unheard += 1
        self._exits.put(exit)

    def stop(self, trial: str) -> None:
        """SIGTERM the trial's process group, SIGKILL after the grace period."""
        with self._lock:
            process = self._processes.get(trial)
        if process is None:
            return
        signal_group(process, signal.SIGTERM)
        timer = threading.Timer(self._grace, signal_group, (process, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def capacity(self, demand: Demand) -> int:
        return self._machine.capacity(demand)

    def next_exit(self, timeout: float | None = None) -> TrialExit | None:
        try:
            exit = self._exits.get(timeout=timeout)
        except queue.Empty:
            return None
        if exit is not None:
            with self._lock:
                self._unheard -= 1
        return exit

    def wake(self) -> None:
        self._exits.put(None)

    def shutdown(self) -> None:
        """Kill every trial still running (the controller is going away); none starts
        from the standby after this."""
        with self._lock:
            self._closed = True
            self._standby = None
            running = list(self._processes.values())
        for process in running:
            signal_group(process, signal.SIGKILL)
        for process in running:
            process.wait()
        self._waiters.shutdown(wait=False)
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None


@dataclass(frozen=True)
class _Launch:
    """A trial's start, worked out: a cold start runs `program` (or the error looking it
    up gave) with `env`, by posix_spawn where it runs `here` (in the controller's working
    directory), else by subprocess in `cwd`; a warm one forks `module` in the zygote."""

    trial: str
    argv: list[str]
    env: dict[bytes, bytes]
    cwd: Path
    log_path: Path
    deadline_seconds: float | None
    module: str | None = None
    warm_env: dict[str, str] = field(default_factory=dict)
    program: str | OSError = ""
    here: bool = False
