"""How a run reports itself in log lines: as text or as JSON objects (`--log-format`). The
live display for a terminal is `controller.console.live`."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
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
    the stream) per line.

    A line is formatted on the thread that logs it and queued without taking the
    handler's lock: a hundred experiments' threads log at once, and a lock held while a
    line is formatted made them wait in turn for each other (and for the interpreter's
    lock that its holder was waiting for). The lock is only taken to write."""

    def __init__(self, stream: TextIO, delay: float = FLUSH_DELAY):
        super().__init__()
        self.stream, self.delay = stream, delay
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._due = threading.Event()  # lines wait for the writer thread
        self._writer: threading.Thread | None = None
        self._starting = threading.Lock()

    def handle(self, record: logging.LogRecord) -> bool:
        """As logging's, without the handler's lock around `emit`."""
        wanted = bool(self.filter(record))
        if wanted:
            self.emit(record)
        return wanted

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.put(self.format(record) + "\n")
            if record.levelno >= logging.WARNING:
                self.flush()
            elif not self._due.is_set():  # (set by another line already: it will be written)
                self._due.set()
                if self._writer is None:
                    self._start_writer()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Write what waits now, in the order it was logged."""
        with self.lock:  # type: ignore[union-attr]
            text = []
            with contextlib.suppress(queue.Empty):
                while True:
                    text.append(self._lines.get_nowait())
            if text:
                with contextlib.suppress(OSError):  # a closed pipe: nobody is reading
                    self.stream.write("".join(text))
                    self.stream.flush()

    def _start_writer(self) -> None:
        with self._starting:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_later, name="log", daemon=True)
                self._writer.start()

    def _write_later(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.delay)
            self._due.clear()  # before the lines are taken: one logged after sets it again
            self.flush()


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
