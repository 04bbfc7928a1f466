"""The journal of a run: an append-only file of JSON lines in `.hpo/journal/<env>/`, so
that a trial that ended is known to have ended however soon the controller dies after
(the status file is rewritten at most once a second). Lines, in the order things happen:

  {"started": {trial document}, "metrics": "path" | null}   the loop recorded a start
  {"stopping": "name", "early": true | false, "why": "..."}   the loop asked it to stop
  {"exited": "name", "code": 0, "deadline": false, "at": "time"}   it exited
  {"ended": {trial document}}                               the loop recorded its end

An exit line is written by the thread that sees the exit, before the trial's successor
starts in its place: from then on no death of the controller loses it (the line is in
the kernel's page cache, written out whatever becomes of the process). A thread of the
journal's makes it durable on disk too within SYNC_DELAY (fdatasync, which carries every
line before it), off the path from one trial's end to the next one's start: a flush of
the disk's cache takes milliseconds. The others are plain writes. The file is laid out ahead in
zeros (PREALLOCATED bytes at a time) and each line written over them in one pwrite() at
its own offset, so that a sync flushes data and no metadata. A run that resumes reads
the journal after its status file, applies what the status does not have yet, writes
the status, and empties the journal."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.core.records import TrialRecord
from controller.core.status import trial_document
from controller.errors import ControllerError
from controller.ports import TrialExit

log = logging.getLogger("hpo-controller")


@dataclass(frozen=True)
class Exited:
    code: int
    deadline_exceeded: bool
    at: str


@dataclass
class JournalEntries:
    """What a journal says of each trial, the last word winning."""

    started: dict[str, tuple[dict[str, Any], str | None]] = field(default_factory=dict)
    stopping: dict[str, bool] = field(default_factory=dict)  # name -> early stop
    why: dict[str, str] = field(default_factory=dict)  # name -> why it was stopped early
    exited: dict[str, Exited] = field(default_factory=dict)
    ended: dict[str, dict[str, Any]] = field(default_factory=dict)


PREALLOCATED = 1 << 20
SYNC_DELAY = 0.05  # seconds from an exit's line to its fdatasync, at most (and the flush)


class TrialJournal:
    def __init__(self, path: Path, clock: Callable[[], str]):
        self.path = path
        self._clock = clock
        self._fd: int | None = None
        self._end = 0  # where the next line goes
        self._size = 0  # bytes laid out
        self._lock = threading.Lock()
        self._failed = False
        self._dirty = False
        self._closed = threading.Event()
        self._syncer: threading.Thread | None = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            data = os.pread(fd, os.fstat(fd).st_size, 0)
            self._end = len(data.rstrip(b"\0"))
            self._size = len(data)
            self._fd = fd
        return self._fd

    def _reserve(self, fd: int, length: int) -> int:
        """The offset of a line of `length` bytes, laying out more zeros where needed."""
        with self._lock:
            offset = self._end
            self._end += length
            if self._end > self._size:
                grown = max(self._end, self._size + PREALLOCATED)
                os.pwrite(fd, bytes(grown - self._size), self._size)
                os.fsync(fd)  # the new size on disk now, not at every line
                self._size = grown
        return offset

    def _append(self, entry: dict[str, Any], durable: bool = False) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        try:
            fd = self._open()
            os.pwrite(fd, line, self._reserve(fd, len(line)))
        except OSError as err:  # a full disk must not stop the run: the status still goes
            if not self._failed:
                log.warning("cannot write the trial journal %s: %s", self.path, err)
                self._failed = True
            return
        if durable:
            self._sync_soon()

    def _sync_soon(self) -> None:
        """Mark the journal for the next sync. The exit's thread only sets a flag: waking
        another thread there would take the core the successor is about to start on."""
        self._dirty = True
        if self._syncer is None:
            with self._lock:
                if self._syncer is None:
                    self._syncer = threading.Thread(target=self._sync, name="journal", daemon=True)
                    self._syncer.start()

    def _sync(self) -> None:
        """On the journal's thread: every SYNC_DELAY, fdatasync if lines wait for it; once
        more when closed."""
        while not self._closed.wait(SYNC_DELAY):
            self._flush()
        self._flush()

    def _flush(self) -> None:
        if not self._dirty or self._fd is None:
            return
        self._dirty = False
        try:
            os.fdatasync(self._fd)
        except OSError as err:
            log.warning("cannot sync the trial journal %s: %s", self.path, err)

    def started(self, trial: TrialRecord, metrics: Path | None) -> None:
        self._append(
            {"started": trial_document(trial), "metrics": str(metrics) if metrics else None}
        )

    def stopping(self, trial: str, early: bool, why: str = "") -> None:
        self._append({"stopping": trial, "early": early, "why": why})

    def exited(self, exit: TrialExit) -> None:
        """Called before the trial's slot is given to another: once it returns, no death
        of the controller loses the line; on disk a moment later."""
        at = self._clock()
        self._append(
            {
                "exited": exit.trial,
                "code": exit.exit_code,
                "deadline": exit.deadline_exceeded,
                "at": at,
            },
            durable=True,
        )

    def ended(self, trial: TrialRecord) -> None:
        self._append({"ended": trial_document(trial)})

    def reset(self) -> None:
        """Empty the journal: its news is in the status file now, or belongs to a run
        that is not continued. Its zeros are laid out again for the lines to come."""
        try:
            fd = self._open()
            with self._lock:
                os.ftruncate(fd, 0)
                os.pwrite(fd, bytes(PREALLOCATED), 0)
                os.fsync(fd)
                self._end, self._size = 0, PREALLOCATED
        except OSError as err:
            raise ControllerError(f"cannot empty the trial journal {self.path}: {err}") from err

    def close(self) -> None:
        """Sync what waits, stop the journal's thread, close the file."""
        self._closed.set()
        if self._syncer is not None:
            self._syncer.join()
            self._syncer = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read(path: Path) -> JournalEntries:
    """The entries of a journal (none when there is no file). A last line cut short (a
    write the kernel never finished) is left out; anything else that is not an entry
    is a ControllerError that says how to recover."""
    entries = JournalEntries()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return entries
    except OSError as err:
        raise ControllerError(f"cannot read the trial journal {path}: {err}") from err
    # Lines between zeros: the laid-out space, and gaps where a line reserved before a
    # kill was never written. A last line cut short is one the kernel never finished.
    lines = [piece.strip(b"\0") for piece in data.rstrip(b"\0").split(b"\n")]
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            _apply(entries, json.loads(line))
        except (ValueError, KeyError, TypeError) as err:
            if number == len(lines) and isinstance(err, ValueError):
                break
            raise ControllerError(
                f"{path}:{number} is not a journal entry ({type(err).__name__}); remove the "
                "file to resume from the status file alone (trials it alone knows of run "
                "again)"
            ) from err
    return entries


def _apply(entries: JournalEntries, entry: dict[str, Any]) -> None:
    if "started" in entry:
        document = entry["started"]
        metrics = entry.get("metrics")
        if not isinstance(document, dict) or not isinstance(document["name"], str):
            raise TypeError("started")
        entries.started[document["name"]] = (document, str(metrics) if metrics else None)
    elif "stopping" in entry:
        entries.stopping[str(entry["stopping"])] = bool(entry["early"])
        why = entry.get("why")
        if isinstance(why, str) and why:
            entries.why[str(entry["stopping"])] = why
    elif "exited" in entry:
        code = entry["code"]
        if not isinstance(code, int):
            raise TypeError("code")
        entries.exited[str(entry["exited"])] = Exited(
            code, bool(entry["deadline"]), str(entry["at"])
        )
    elif "ended" in entry:
        document = entry["ended"]
        if not isinstance(document, dict) or not isinstance(document["name"], str):
            raise TypeError("ended")
        entries.ended[document["name"]] = document
    else:
        raise KeyError("no known entry")
