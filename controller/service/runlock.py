"""One controller per environment and repository: the running controller holds an
exclusive lock (flock) on `.hpo/locks/<env>.lock`. The kernel releases it when the
controller's process ends, however it ends, so a SIGKILL never leaves a stale lock. The
file holds the holder's pid, to name it to whoever finds the lock taken."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from controller.errors import ControllerError


@contextlib.contextmanager
def holding(path: Path, environment: str) -> Iterator[None]:
    """Hold the lock for the block; ControllerError at once when another process has it.
    The descriptor is not inherited by trials (close-on-exec, and trials are started
    with no descriptor but 0, 1 and 2)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            who = f"pid {holder}" if holder else "another process"
            stop = f"`kill {holder}`" if holder else "Ctrl-C where it runs"
            raise ControllerError(
                f"another hpo-controller ({who}) is running environment {environment!r} in "
                f"this repository; wait for it to finish, or stop it with {stop} (its "
                "finished trials are kept and a new run resumes them)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays, harmless and reused


def _holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        return int(text) if text.isdigit() else None
    except (OSError, UnicodeDecodeError):
        return None
