"""Reporting metrics from a training script, with no dependency beyond the standard
library: `print_metrics` writes Katib's StdOut line, `MetricsFile` appends to a metrics
file for Katib's File collector (TEXT or JSON lines), and `report_metrics` pushes values
for the Push collector.

Push: hpo-controller gives each trial the path to push to in the environment variable
HPO_PUSH_METRICS_FILE; outside a controller (a plain run) the values are printed instead,
so a script behaves the same in a notebook, a terminal or a trial."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from trainers.metricline import format_metrics, format_value

PUSH_ENVIRONMENT = "HPO_PUSH_METRICS_FILE"
FileFormat = Literal["text", "json"]


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def print_metrics(**values: float) -> None:
    """One Katib StdOut line on standard output: `epoch=3 loss=0.1234 accuracy=0.9567`."""
    print(format_metrics(**values), file=sys.stdout, flush=True)


def json_record(values: dict[str, float]) -> str:
    """A JSON metrics line as Katib's File collector reads it: values as strings (Katib
    ignores numbers, #2162) and an RFC 3339 timestamp."""
    record = {name: format_value(value) for name, value in values.items()}
    record["timestamp"] = _timestamp()
    return json.dumps(record, sort_keys=False)


class MetricsFile:
    """Appends metrics to a file, a line per report, flushed at once."""

    def __init__(self, path: str | Path, file_format: FileFormat = "text"):
        if file_format not in ("text", "json"):
            raise ValueError(f"metrics file format must be 'text' or 'json', got {file_format!r}")
        self.path = Path(path)
        self.format = file_format
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **values: float) -> None:
        if not values:
            raise ValueError("write() needs at least one metric")
        line = json_record(values) if self.format == "json" else format_metrics(**values)
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(line + "\n")


def report_metrics(**values: float) -> None:
    """Report metric values for the Push collector (or print them when not in a trial)."""
    if not values:
        raise ValueError("report_metrics() needs at least one metric, e.g. accuracy=0.9")
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"metric {name!r} must be a number, got {value!r}")
    target = os.environ.get(PUSH_ENVIRONMENT)
    if target:
        MetricsFile(target, "json").write(**values)
    else:
        print_metrics(**values)
