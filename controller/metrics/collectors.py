"""Metrics collection: from a trial's output in Katib's StdOut/TEXT format (which lines
count, which filters apply), from JSON lines (Katib's File collector in JSON, and Push),
and how values become a min/max/latest summary.

Katib semantics kept: a line counts only if it contains a wanted metric name; every match
of every filter on it is recorded; names must equal a wanted metric exactly. Katib's bug
not kept: a value its filter cannot read (`loss=nan`) is not recorded as an empty string;
the words nan, inf and -inf are read as those numbers and a metric value that is nan never
makes a trial the best."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.core.records import MetricSummary
from controller.errors import ControllerError
from controller.metrics import tfevents
from generator.katib.models import MetricsCollectorSpec
from generator.language.collectors import DEFAULT_METRICS_FORMAT

# Where a local Push trial writes its metrics: the variable the controller sets and
# `trainers.report_metrics` reads (the trainers' copy of the name; a test holds them equal).
PUSH_ENVIRONMENT = "HPO_PUSH_METRICS_FILE"
_NON_FINITE = re.compile(r"([\w|-]+)\s*=\s*([+-]?(?:nan|inf|infinity))\b", re.IGNORECASE)
_NAN_OR_INF = re.compile(r"nan|inf", re.IGNORECASE)


def compile_filters(metrics_format: Sequence[str] | None) -> list[re.Pattern[str]]:
    return [re.compile(f) for f in (metrics_format or [DEFAULT_METRICS_FORMAT])]


def parse_lines(
    lines: Iterable[str], wanted: Sequence[str], filters: Sequence[re.Pattern[str]]
) -> dict[str, list[float]]:
    """Every value of every wanted metric, in the order reported."""
    values: dict[str, list[float]] = {name: [] for name in wanted}
    for line in lines:
        if not any(name in line for name in wanted):
            continue
        for pattern in filters:
            for match in pattern.finditer(line):
                _record(values, match.group(1), match.group(2))
        if _NAN_OR_INF.search(line):  # what _NON_FINITE needs, found faster: most lines lack it
            for match in _NON_FINITE.finditer(line):
                _record(values, match.group(1), match.group(2))
    return values


def _record(values: dict[str, list[float]], name: str, text: str) -> None:
    name, text = name.strip(), text.strip()
    if name not in values:
        return
    try:
        values[name].append(float(text))
    except ValueError:
        return  # Katib's filter matched an empty or partial number: nothing to record


def summarize(
    values: dict[str, list[float]], texts: dict[str, str] | None = None
) -> tuple[MetricSummary, ...]:
    """min, max and latest of each metric that reported at least one value; a metric that
    reported no number but text (`texts`) as its text."""
    summaries = []
    for name, series in values.items():
        if not series:
            if texts and name in texts:
                summaries.append(MetricSummary.of_text(name, texts[name]))
            continue
        finite = [v for v in series if not math.isnan(v)] or series
        summaries.append(MetricSummary(name, min(finite), max(finite), series[-1], tuple(series)))
    return tuple(summaries)


def text_values(
    lines: Iterable[str], wanted: Sequence[str], filters: Sequence[re.Pattern[str]]
) -> dict[str, str]:
    """The latest value of each wanted metric that its filter captures as text, not a
    number (Katib's `([\\w-]+)=(Genotype.*)` for DARTS): Katib records such a value as
    the metric's latest."""
    found: dict[str, str] = {}
    for line in lines:
        if not any(name in line for name in wanted):
            continue
        for pattern in filters:
            for match in pattern.finditer(line):
                name, text = match.group(1).strip(), match.group(2).strip()
                if name in wanted and text and not _is_number(text):
                    found[name] = text
    return found


def json_text_values(lines: Iterable[str], wanted: Sequence[str]) -> dict[str, str]:
    """The latest string of each wanted metric in JSON lines that is not a number."""
    found: dict[str, str] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            for name in wanted:
                value = record.get(name)
                if isinstance(value, str) and value.strip() and not _is_number(value):
                    found[name] = value.strip()
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_json_lines(
    lines: Iterable[str], wanted: Sequence[str]
) -> tuple[dict[str, list[float]], int]:
    """Values from JSON lines (Katib's File collector in JSON format, and Push). Unlike
    Katib (#2162), numbers count as well as numeric strings. Returns the values and how many
    lines were not JSON objects (skipped, where Katib drops the whole file)."""
    values: dict[str, list[float]] = {name: [] for name in wanted}
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if not isinstance(record, dict):
            skipped += 1
            continue
        for name in wanted:
            value = record.get(name)
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int | float):
                values[name].append(float(value))
            elif isinstance(value, str):
                _record(values, name, value)
    return values, skipped


@dataclass(frozen=True)
class Collector:
    """Where a trial's metrics come from, by Katib's collector kind: the trial's output
    (StdOut), a file it writes (File, TEXT or JSON lines), the event files it writes into
    a folder (TensorFlowEvent), or what it pushes (Push)."""

    kind: str
    file_format: str  # "TEXT" or "JSON"
    filters: tuple[re.Pattern[str], ...]
    wanted: tuple[str, ...]
    path: str | None = None  # the File collector's path in the container

    def collect(
        self, output: Path, metrics_file: Path | None
    ) -> tuple[dict[str, list[float]], str]:
        """The values, and a note for the trial record when lines were skipped. StdOut reads
        the trial's output; the others its metrics file (or event folder; in the cluster,
        the JSON lines the relay sidecar made of the event files)."""
        if self.kind == "StdOut":
            return parse_lines(_lines(output), self.wanted, self.filters), ""
        if metrics_file is None:
            raise ValueError(f"the {self.kind} collector reads a metrics file: none given")
        if self.kind == "TensorFlowEvent" and not metrics_file.is_file():
            return tfevents.read_folder(metrics_file, list(self.wanted)), ""
        lines = _lines(metrics_file)
        if self.kind == "File" and self.file_format == "TEXT":
            return parse_lines(lines, self.wanted, self.filters), ""
        values, skipped = parse_json_lines(lines, self.wanted)
        note = f"{skipped} metrics lines were not JSON objects and were skipped" if skipped else ""
        return values, note

    def summaries(
        self, output: Path, metrics_file: Path | None
    ) -> tuple[tuple[MetricSummary, ...], str]:
        """A finished trial's metric summaries and note: `collect`, and for a metric that
        reported no number, the text its filter captured (read only then)."""
        values, note = self.collect(output, metrics_file)
        missing = [name for name, series in values.items() if not series]
        texts: dict[str, str] = {}
        if missing and self.kind != "TensorFlowEvent":
            if self.kind == "StdOut":
                texts = text_values(_lines(output), missing, self.filters)
            elif metrics_file is not None and metrics_file.is_file():
                lines = _lines(metrics_file)
                if self.file_format == "TEXT" and self.kind == "File":
                    texts = text_values(lines, missing, self.filters)
                else:
                    texts = json_text_values(lines, missing)
        return summarize(values, texts), note


LOCAL_COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "Push")


def collector_for(spec: MetricsCollectorSpec | None, wanted: Sequence[str]) -> Collector:
    """The local collector of an Experiment (Katib's defaults already applied)."""
    kind = spec.collector.kind if spec and spec.collector else "StdOut"
    if kind not in LOCAL_COLLECTORS:
        raise ControllerError(
            f"the {kind} metrics collector does not run locally; use " + ", ".join(LOCAL_COLLECTORS)
        )
    source = spec.source if spec else None
    path = source.file_system_path if source else None
    formats = source.filter.metrics_format if source and source.filter else None
    return Collector(
        kind=kind,
        file_format=(path.format if path and path.format else "TEXT"),
        filters=tuple(compile_filters(formats)),
        wanted=tuple(wanted),
        path=path.path if path else None,
    )


def _lines(path: Path) -> list[str]:
    """The file's lines ([] when it cannot be read), read by plain system calls and decoded
    at once: a file object's layers cost more to set up than a trial's output to read."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return []
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError:
        return []
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace").splitlines()
