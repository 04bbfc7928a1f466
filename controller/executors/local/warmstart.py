"""Warm trial starts: a pool around one zygote process (`controller.executors.local.zygote`)
that has imported the heavy modules already, so a `python -m MODULE` trial starts by a fork
instead of a fresh interpreter paying the imports again. The handles it returns behave like
`subprocess.Popen` for the executor: pid, poll(), wait()."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from controller.errors import ControllerError
from controller.executors.local.processes import trial_environment

DEFAULT_PRELOAD = (
    "numpy",
    "torch",
    "torch.nn",
    "torch.optim",
    "torch._dynamo",  # imported lazily by the first optimizer: 2 s
    "sklearn",
    "sklearn.datasets",
    "sklearn.ensemble",
    "sklearn.model_selection",
)
READY_TIMEOUT = 120.0
log = logging.getLogger("hpo-controller")
PYTHON_NAMES = ("python", "python3")  # commands that run under the controller's interpreter


def warm_module(argv: Sequence[str]) -> str | None:
    """The module of a `python -m MODULE ...` command line, else None (runs cold)."""
    if len(argv) >= 3 and Path(argv[0]).name in PYTHON_NAMES and argv[1] == "-m":
        return argv[2]
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m":
        return argv[2]
    return None


class WarmProcess:
    """A trial forked by the zygote."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"trial {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode


class WarmPool:
    """One zygote for the life of a controller run. Thread-safe."""

    def __init__(self, preload: Sequence[str] = DEFAULT_PRELOAD, log: Path | None = None):
        self._preload = tuple(preload)
        self._log = log
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._started = False
        self._next_id = 0
        self._waiting: dict[int, tuple[threading.Event, dict[str, Any]]] = {}
        self._processes: dict[int, WarmProcess] = {}
        self._early_exits: dict[int, int] = {}
        self._ready = threading.Event()

    def start(self) -> None:
        """Start the zygote (once); it imports the preloaded modules in the background."""
        with self._start_lock:
            if self._started:
                return
            # A socket pair, its other end handed down: no path in the filesystem to
            # clean up after a kill, and no way for another process to connect.
            self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            # The zygote's own environment is what /proc shows of every trial forked from
            # it: the controller's own variables are left out of it, as out of the trials'.
            env = {**trial_environment(), "PYTHONUNBUFFERED": "1"}
            stderr = open(self._log, "ab") if self._log else subprocess.DEVNULL  # noqa: SIM115
            try:
                self._zygote = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "controller.executors.local.zygote",
                        str(theirs.fileno()),
                        *self._preload,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    env=env,
                    pass_fds=(theirs.fileno(),),
                )
            except OSError as err:
                self._socket.close()
                raise ControllerError(f"the warm-start process did not start: {err}") from err
            finally:
                theirs.close()
                if self._log:
                    stderr.close()  # type: ignore[union-attr]
            threading.Thread(target=self._read, daemon=True).start()
            self._started = True

    def _read(self) -> None:
        buffered = b""
        while True:
            try:
                chunk = self._socket.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self._lost()
                return
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                self._handle(json.loads(line))

    def _handle(self, message: dict[str, Any]) -> None:
        with self._lock:
            if message.get("ready"):
                if message.get("failed"):
                    log.warning(
                        "warm starts could not preload %s: trials that import them start slower",
                        ", ".join(message["failed"]),
                    )
                self._ready.set()
            elif "exited" in message:
                process = self._processes.pop(message["exited"], None)
                if process is None:
                    self._early_exits[message["exited"]] = message["code"]
                else:
                    process._exited(message["code"])
            else:
                event, reply = self._waiting.pop(message["id"])
                reply.update(message)
                event.set()

    def _lost(self) -> None:
        """The zygote died: its trials died with it (they ask to); report them killed."""
        with self._lock:
            for process in self._processes.values():
                process._exited(-9)
            self._processes.clear()
            for event, reply in self._waiting.values():
                reply["error"] = "the warm-start process exited"
                event.set()
            self._ready.set()

    def spawn(
        self, module: str, args: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path
    ) -> WarmProcess:
        self.start()
        if not self._ready.wait(READY_TIMEOUT):
            raise ControllerError("the warm-start process did not become ready")
        event = threading.Event()
        reply: dict[str, Any] = {}
        with self._lock:
            self._next_id += 1
            request = {
                "id": self._next_id,
                "module": module,
                "args": list(args),
                "env": dict(env),
                "cwd": str(cwd),
                "log": str(log),
            }
            self._waiting[self._next_id] = (event, reply)
            self._socket.sendall((json.dumps(request) + "\n").encode())
        event.wait()
        if "error" in reply:
            raise ControllerError(f"warm start of {module} failed: {reply['error']}")
        process = WarmProcess(int(reply["pid"]))
        with self._lock:
            early = self._early_exits.pop(process.pid, None)
            if early is None:
                self._processes[process.pid] = process
        if early is not None:
            process._exited(early)
        return process

    def close(self) -> None:
        """Stop the zygote; any trial still running is killed with it."""
        if not self._started:
            return
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        try:
            self._zygote.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._zygote.kill()
            self._zygote.wait()
