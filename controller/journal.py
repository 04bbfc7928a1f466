"""The journal of a run: an append-only file of JSON lines in `.hpo/journal/<env>/`, so
that a trial that ended is known to have ended however soon the controller dies after
(the status file is rewritten at most once a second). Lines, in the order things happen:

  {"started": {trial document}, "metrics": "path" | null}   the loop recorded a start
  {"stopping": "name", "early": true | false}               the loop asked it to stop
  {"exited": "name", "code": 0, "deadline": false, "at": "time"}   it exited
  {"ended": {trial document}}                               the loop recorded its end

An exit line is written and made durable (fdatasync, which carries every line before it)
by the thread that sees the exit, before the trial's successor starts in its place; the
others are plain appends. Each line is one write() of an O_APPEND descriptor. A run that
resumes reads the journal after its status file, applies what the status does not have
yet, writes the status, and empties the journal."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import ControllerError
from controller.local import TrialExit
from controller.records import TrialRecord
from controller.status import trial_document

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
    exited: dict[str, Exited] = field(default_factory=dict)
    ended: dict[str, dict[str, Any]] = field(default_factory=dict)


class TrialJournal:
    def __init__(self, path: Path, clock: Callable[[], str]):
        self.path = path
        self._clock = clock
        self._fd: int | None = None
        self._failed = False

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o666)
        return self._fd

    def _append(self, entry: dict[str, Any], durable: bool = False) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        try:
            fd = self._open()
            os.write(fd, line)
            if durable:
                os.fdatasync(fd)
        except OSError as err:  # a full disk must not stop the run: the status still goes
            if not self._failed:
                log.warning("cannot write the trial journal %s: %s", self.path, err)
                self._failed = True

    def started(self, trial: TrialRecord, metrics: Path | None) -> None:
        self._append(
            {"started": trial_document(trial), "metrics": str(metrics) if metrics else None}
        )

    def stopping(self, trial: str, early: bool) -> None:
        self._append({"stopping": trial, "early": early})

    def exited(self, exit: TrialExit) -> None:
        """Durable before it returns: called before the trial's slot is given to another."""
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
        that is not continued."""
        try:
            fd = self._open()
            os.ftruncate(fd, 0)
            os.fsync(fd)
        except OSError as err:
            raise ControllerError(f"cannot empty the trial journal {self.path}: {err}") from err

    def close(self) -> None:
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
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):  # the last piece has no newline
        try:
            _apply(entries, json.loads(line))
        except (ValueError, KeyError, TypeError) as err:
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
