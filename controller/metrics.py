"""Metrics collection from a trial's output in Katib's StdOut/TEXT format: which lines
count, which filters apply, and how values become a min/max/latest summary.

Katib semantics kept: a line counts only if it contains a wanted metric name; every match
of every filter on it is recorded; names must equal a wanted metric exactly. Katib's bug
not kept: a value its filter cannot read (`loss=nan`) is not recorded as an empty string;
the words nan, inf and -inf are read as those numbers and a metric value that is nan never
makes a trial the best."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from controller.records import MetricSummary
from trainers.metricline import DEFAULT_FILTER

_NON_FINITE = re.compile(r"([\w|-]+)\s*=\s*([+-]?(?:nan|inf|infinity))\b", re.IGNORECASE)


def compile_filters(metrics_format: Sequence[str] | None) -> list[re.Pattern[str]]:
    return [re.compile(f) for f in (metrics_format or [DEFAULT_FILTER])]


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


def summarize(values: dict[str, list[float]]) -> tuple[MetricSummary, ...]:
    """min, max and latest of each metric that reported at least one value."""
    summaries = []
    for name, series in values.items():
        if not series:
            continue
        finite = [v for v in series if not math.isnan(v)] or series
        summaries.append(MetricSummary(name, min(finite), max(finite), series[-1]))
    return tuple(summaries)
