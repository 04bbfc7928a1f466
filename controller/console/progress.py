"""How a run reports itself in log lines: as text or as JSON objects (`--log-format`). The
live display for a terminal is `controller.console.live`."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TextIO

from controller.core.events import EVENT_FIELD
from generator.files.escaping import one_line


class LineFormatter(logging.Formatter):
    """`hpo-controller: message`, one line whatever the message holds (a value with a
    line break or a terminal escape cannot forge a line of its own)."""

    def __init__(self) -> None:
        super().__init__("hpo-controller: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level and message, then the event's own fields where
    the line tells of one (`controller.core.events`: `event`, `experiment`, `trial`,
    `state`, `reason`, `metrics`, times...). Values that are not numbers stay strings;
    a nan or infinite metric is written as its text ("nan"), so every line is JSON."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        fields = {"time": stamp, "level": record.levelname.lower(), "message": record.getMessage()}
        event = getattr(record, EVENT_FIELD, None)
        if isinstance(event, dict):
            fields |= {k: v for k, v in event.items() if k not in fields}
        return json.dumps(fields, allow_nan=False, default=str)


def events_wanted(logger: logging.Logger) -> bool:
    """Whether the logger writes JSON lines, which carry events the text lines leave to
    the command's own output (how an experiment ended)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers)


FLUSH_DELAY = 0.05  # seconds a log line may wait for others to share its write


class BatchedStreamHandler(logging.Handler):
    """Writes log lines to a stream in batches: a line waits up to FLUSH_DELAY for the lines
    after it, then a thread of the handler's writes them all at once; warnings and errors
    go out at once, with whatever waited before them. A trial that starts and one that ends
    cost a write a few times a second instead of a write (and a wake-up of whoever reads
    the stream) per line."""

    def __init__(self, stream: TextIO, delay: float = FLUSH_DELAY):
        super().__init__()
        self.stream, self.delay = stream, delay
        self.pending: list[str] = []
        assert self.lock is not None
        self._due = threading.Condition(self.lock)
        self._writer: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Called with the handler's lock held."""
        try:
            first = not self.pending
            self.pending.append(self.format(record) + "\n")
            if record.levelno >= logging.WARNING:
                self._write()
            elif first:
                self._wake_writer()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Write what waits now."""
        with self._due:
            self._write()

    def _wake_writer(self) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_later, name="log", daemon=True)
            self._writer.start()
        else:
            self._due.notify()

    def _write_later(self) -> None:
        with self._due:
            while True:
                while not self.pending:
                    self._due.wait()
                due = time.monotonic() + self.delay
                while self.pending and (left := due - time.monotonic()) > 0:
                    self._due.wait(left)
                self._write()

    def _write(self) -> None:
        if not self.pending:
            return
        text, self.pending = "".join(self.pending), []
        with contextlib.suppress(OSError):  # a closed pipe: nobody is reading
            self.stream.write(text)
            self.stream.flush()


def flush_log(log: logging.Logger) -> None:
    """Write out what `log`'s handlers hold back (the run loop does as it ends, so that its
    lines come before whatever is printed after it)."""
    for handler in log.handlers:
        handler.flush()


def configure_logging(log_format: str, quiet: bool) -> None:
    # What the formats show needs no thread or process names, nor where a line was logged
    # from: not gathered for each record (the logging HOWTO's "Optimization" switches).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    handler = BatchedStreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(LineFormatter())
    root = logging.getLogger("hpo-controller")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
