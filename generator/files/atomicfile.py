"""Writing files so that a reader sees the old text or the new, never a part: each file is
written beside its target and renamed over it. Files get the mode the user's umask gives a
new file (not the 0600 of a temporary one). The one home of atomic writes for the
generator and the controller."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def umask() -> int:
    """This process's umask, read without changing it where Linux tells it."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and put back at once
    os.umask(mask)
    return mask


def file_mode() -> int:
    return 0o666 & ~umask()


def folder_mode() -> int:
    return 0o777 & ~umask()


def stage(target: Path, text: str, *, sync: bool = False) -> Path:
    """Write `text` to a new temporary file beside `target`; its path."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name[:100]}.", dir=target.parent)
    try:
        os.fchmod(handle, file_mode())
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            if sync:
                stream.flush()
                os.fsync(stream.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def write_text(target: Path, text: str, *, sync: bool = False) -> None:
    """Replace `target` with `text` in one step (`sync`: on disk before the rename)."""
    temporary = stage(target, text, sync=sync)
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_all(files: Mapping[Path, str]) -> None:
    """Write every file or none: all are staged first, then renamed into place; a failure
    while staging leaves nothing behind."""
    staged: dict[Path, Path] = {}
    try:
        for target, text in files.items():
            staged[target] = stage(target, text)
    except BaseException:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)
        raise
    for target, temporary in staged.items():
        os.replace(temporary, target)
