"""How a run reports itself in log lines: as text or as JSON objects (`--log-format`). The
live display for a terminal is `controller.live`."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, message."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return json.dumps(
            {"time": stamp, "level": record.levelname.lower(), "message": record.getMessage()}
        )


class BatchedStreamHandler(logging.Handler):
    """Writes log lines to a stream in batches: a line waits until flush(), which the run
    loop calls before it waits for a trial, so every line is out before the controller
    sleeps, and a turn of the loop that starts one trial and ends another costs one write
    instead of one per line. Warnings and errors are written at once."""

    def __init__(self, stream: TextIO):
        super().__init__()
        self.stream = stream
        self.pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.pending.append(self.format(record) + "\n")
            if record.levelno >= logging.WARNING:
                self._write()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():
            self._write()

    def _write(self) -> None:
        if not self.pending:
            return
        text, self.pending = "".join(self.pending), []
        with contextlib.suppress(OSError):  # a closed pipe: nobody is reading
            self.stream.write(text)
            self.stream.flush()


def flush_log(log: logging.Logger) -> None:
    """Write out what `log`'s handlers hold back (the run loop does, before it waits)."""
    for handler in log.handlers:
        handler.flush()


def configure_logging(log_format: str, quiet: bool) -> None:
    # What the formats show needs no thread or process names: not gathered for each record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = BatchedStreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("hpo-controller: %(message)s"))
    root = logging.getLogger("hpo-controller")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
