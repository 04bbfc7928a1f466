"""`hpo-controller relay`: the sidecar that brings a trial's File or TensorFlowEvent
metrics out of its pod, in the cluster. It shares a volume with the trial's container,
watches the metrics file (or the folder of event files) there, and prints what appears on
its own standard output, which the controller follows through the API's log endpoint into
the trial's metrics file, as it follows a StdOut trial's output.

- A metrics file (TEXT or JSON lines) comes out as it is, a complete line at a time. A
  file that shrank (truncated, or replaced by a rotation) is read again from its start.
- Event files come out as JSON lines, one value of one wanted metric each
  (`{"loss": 0.25}`), each metric's values in the order the events were written.
- On SIGTERM (the trial's container has ended and the kubelet stops its sidecars) what is
  left is read and printed, and the relay exits 0. Its startup probe holds the trial's
  container back until it hears SIGTERM, so a trial that ends at once is read too.
  Nothing it reads is executed."""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from controller.metrics import tfevents

POLL = 0.2  # seconds between looks
RELAYED = ("File", "TensorFlowEvent")


class FileRelay:
    """The new complete lines of a file, each time it is looked at."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self, final: bool = False) -> list[str]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:  # truncated or rotated: its content starts over
            self.offset, self.partial = 0, b""
        try:
            with self.path.open("rb") as stream:
                stream.seek(self.offset)
                data = stream.read()
        except OSError:
            return []
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        if final and self.partial:
            complete.append(self.partial)
            self.partial = b""
        return [line.decode("utf-8", "replace") for line in complete]


class EventRelay:
    """The values of the wanted metrics in a folder of event files not printed yet, as
    JSON lines."""

    def __init__(self, folder: Path, metrics: list[str]):
        self.folder, self.metrics = folder, metrics
        self.sent: dict[str, int] = {}

    def read(self, final: bool = False) -> list[str]:
        found = tfevents.read_folder(self.folder, self.metrics)
        lines = []
        for metric, values in found.items():
            for value in values[self.sent.get(metric, 0) :]:
                shown: float | str = value if math.isfinite(value) else repr(value)
                lines.append(json.dumps({metric: shown}))
            self.sent[metric] = len(values)
        return lines


def relay(
    read: Callable[[bool], list[str]],
    out: TextIO,
    stop: threading.Event,
    poll: float = POLL,
) -> None:
    """Print what `read` finds, every `poll` seconds, until `stop`; then once more."""
    while True:
        final = stop.wait(poll)
        for line in read(final):
            out.write(line + "\n")
        out.flush()
        if final:
            return


def run(kind: str, path: str, metrics: list[str], ready: str | None = None) -> None:
    """The sidecar's main: relay `path` as `kind` until SIGTERM or SIGINT. `ready`: a
    file made once a SIGTERM would be heard (the sidecar's startup probe looks for it, and
    the trial's container starts only then, so that no end of a quick trial goes unread)."""
    if kind not in RELAYED:
        raise ValueError(f"the relay reads File or TensorFlowEvent metrics, not {kind!r}")
    if ready:
        Path(ready).unlink(missing_ok=True)  # a restarted relay is not ready yet
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    if ready:
        Path(ready).write_bytes(b"")
    source: FileRelay | EventRelay = (
        FileRelay(Path(path)) if kind == "File" else EventRelay(Path(path), metrics)
    )
    relay(source.read, sys.stdout, stop)
