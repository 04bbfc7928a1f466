"""The watchdog kills what carries its controller's mark, with the process groups they lead,
once the controller's end of its pipe closes; nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.executors.local.processes import Watchdog
from controller.executors.local.watchdog import MARK
from tests.conftest import alive

pytestmark = pytest.mark.skipif(not Watchdog.supported(), reason="the watchdog reads /proc")

SLEEPER = "import time; print('up', flush=True); time.sleep(60)"
# Starts a sleeping child in its process group, without the mark; prints its pid, sleeps.
PARENT = (
    "import os, subprocess, sys, time\n"
    f"env = {{k: v for k, v in os.environ.items() if k != {MARK!r}}}\n"
    f"child = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], env=env,\n"
    "                         stdout=subprocess.DEVNULL)\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def ignored(pid: int) -> int:
    """The set of signals the process ignores, as /proc shows it (bit n-1: signal n)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    return 0


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; whatever is left is killed afterwards."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def spawn(started: list[subprocess.Popen[str]], code: str, token: str | None) -> int:
    """A python process in a session of its own, marked with `token` when given; the first
    line it prints, as an int when it is one."""
    env = {k: v for k, v in os.environ.items() if k != MARK}
    if token is not None:
        env[MARK] = token
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    started.append(process)
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    return int(first) if first.isdigit() else process.pid


def test_closing_the_pipe_kills_marked_processes_and_their_groups(
    started: list[subprocess.Popen[str]],
) -> None:
    watchdog = Watchdog.start()
    grandchild = spawn(started, PARENT, watchdog.token)
    parent = started[-1].pid
    spawn(started, SLEEPER, watchdog.token)
    marked = started[-1].pid
    spawn(started, SLEEPER, "another-controller")
    stranger = started[-1].pid
    spawn(started, SLEEPER, None)
    unmarked = started[-1].pid

    assert all(alive(pid) for pid in (parent, grandchild, marked, stranger, unmarked))
    watchdog.close()
    assert watchdog.process.returncode == 0
    assert gone(parent) and gone(marked)
    assert gone(grandchild)  # unmarked itself, but in its marked parent's group
    assert alive(stranger) and alive(unmarked)


def test_the_watchdog_outlives_interrupts_meant_for_the_controller() -> None:
    watchdog = Watchdog.start()
    wanted = (1 << signal.SIGINT - 1) | (1 << signal.SIGTERM - 1) | (1 << signal.SIGHUP - 1)
    deadline = time.monotonic() + 10
    while ignored(watchdog.process.pid) & wanted != wanted:  # its handlers are in place
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        os.kill(watchdog.process.pid, signum)
    time.sleep(0.1)
    assert watchdog.process.poll() is None
    watchdog.close()
    assert watchdog.process.returncode == 0


def test_the_watchdog_script_needs_a_token() -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(Watchdog.SCRIPT)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "usage: python watchdog.py TOKEN" in result.stderr
