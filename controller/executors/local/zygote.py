"""The warm-start zygote: an interpreter that imports the heavy modules once (torch,
numpy, scikit-learn) and then forks one child per trial, which runs `python -m MODULE
ARGS` as a fresh interpreter would: its own process group, working directory,
environment, argv, stdin from /dev/null, stdout and stderr to the trial's log, default
signal handling, and Python's exit-status rules.

It serves one client (hpo-controller) over one end of a socket pair the controller made
and handed down (no file in the filesystem: nothing is left behind when either is killed),
in JSON lines:
  <- {"id": 1, "module": "trainers.mnist", "args": [...], "env": {...}, "cwd": "...", "log": "..."}
  -> {"id": 1, "pid": 4242}            or {"id": 1, "error": "..."}
  -> {"exited": 4242, "code": 0}       (negative: killed by that signal, as Popen says)
When the client goes away, every child is killed and the zygote exits. Standard library
only: this module runs before anything else is imported.

    python -m controller.executors.local.zygote SOCKET_FD MODULE...
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def preload(modules: list[str]) -> list[str]:
    """Import `modules`; the names that failed (they are imported cold by the trial)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only loses its warm start
            failed.append(name)
    return failed


def _exit_code(exit: SystemExit) -> int:
    """Python's rules for `sys.exit(x)`: None is 0, an int is itself, else printed and 1."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


def _run_child(request: dict[str, Any], keep: set[int]) -> None:
    """In the forked child: become the trial, run it, exit. Never returns."""
    code = 1
    try:
        os.setsid()
        die_with_parent()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in keep:
            os.close(fd)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = os.getcwd()
        sys.argv = [request["module"], *request["args"]]
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit:
            code = _exit_code(exit)
        except KeyboardInterrupt:
            traceback.print_exc()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        with contextlib.suppress(Exception):
            import atexit

            atexit._run_exitfuncs()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        # A forked child must never return into the zygote's loop or run the zygote's
        # own exit handlers: only os._exit ends it without either (the trial's handlers
        # ran above).
        os._exit(code)


def serve(fd: int, modules: list[str]) -> int:
    die_with_parent()
    connection = socket.socket(fileno=fd)
    failed = preload(modules)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    children: set[int] = set()

    def send(message: dict[str, Any]) -> None:
        connection.sendall((json.dumps(message) + "\n").encode())

    send({"ready": True, "failed": failed})
    selector = selectors.DefaultSelector()
    selector.register(connection, selectors.EVENT_READ, "client")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    buffered = b""
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                os.read(wake_read, 4096)
                while children:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                    if pid == 0:
                        break
                    children.discard(pid)
                    send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})
                continue
            chunk = connection.recv(65536)
            if not chunk:  # the controller is gone: so are its trials
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                return 0
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                request = json.loads(line)
                try:
                    pid = os.fork()
                except OSError as err:
                    send({"id": request["id"], "error": f"fork failed: {err}"})
                    continue
                if pid == 0:
                    zygotes = {connection.fileno(), selector.fileno(), wake_read, wake_write}
                    _run_child(request, zygotes)
                children.add(pid)
                send({"id": request["id"], "pid": pid})


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), sys.argv[2:]))
