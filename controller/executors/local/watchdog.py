"""Kills a controller's trials when the controller goes away, however it goes (a crash,
SIGKILL). The controller starts one watchdog per executor, holding the write end of the
watchdog's stdin; the kernel closes it when the controller dies, and the watchdog then
kills the process group of every process whose environment carries the controller's
mark (`HPO_CONTROLLER_RUN=<token>`, put there by the executor). A mark set at exec time
leaves no window between a trial's start and its protection, costs a trial nothing, and
also finds what a trial started in a group of its own.

Run as a plain file with the standard library only (`python -I -S watchdog.py TOKEN`), so
that it starts in milliseconds. Linux only: it reads /proc."""

from __future__ import annotations

import os
import signal
import sys

MARK = "HPO_CONTROLLER_RUN"
ROUNDS = 5  # a trial may start a process while the previous round kills


def marked(token: str, proc: str = "/proc") -> dict[int, int]:
    """Process id -> process group of every live process carrying the mark."""
    entry = f"{MARK}={token}".encode()
    found = {}
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(f"{proc}/{name}/environ", "rb") as environ:
                variables = environ.read().split(b"\0")
            if entry in variables:
                found[int(name)] = os.getpgid(int(name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def kill_marked(token: str, spared: set[int]) -> int:
    """SIGKILL every marked process and its group (a group in `spared` loses only the
    marked process), until none is left; how many were marked."""
    killed: set[int] = set()
    for _ in range(ROUNDS):
        found = marked(token)
        if not found:
            break
        for pid, group in found.items():
            try:
                if group in spared:
                    os.kill(pid, signal.SIGKILL)
                else:
                    os.killpg(group, signal.SIGKILL)
            except OSError:
                continue
            killed.add(pid)
    return len(killed)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(
            "usage: python watchdog.py TOKEN (stdin: a pipe from the controller)", file=sys.stderr
        )
        return 2
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # outlive the controller to clean up after it
    spared = {os.getpgid(0), os.getpgid(os.getppid())}  # never our group or the controller's
    while os.read(0, 4096):  # until the controller's end of the pipe closes
        pass
    kill_marked(argv[0], spared)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
