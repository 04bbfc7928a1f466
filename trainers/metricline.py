"""Katib's StdOut metric-line format as trainers write it: lines such as
`accuracy=0.9567 loss=0.1234`, which hpo-controller's collector reads with Katib's default
filter (`pkg/metricscollector/v1beta1/common/const.go`; the generator keeps the
controller's copy, `generator.language.collectors.DEFAULT_METRICS_FORMAT`, and a test holds the two
equal). No third-party imports, nothing of hpo-gen's."""

from __future__ import annotations

import math

# Katib's default metricsFormat: group 1 is the metric name, group 2 its value.
DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


def format_value(value: float) -> str:
    """A metric value as the default filter reads it back. Katib's filter cannot read
    nan or inf; they are written as the words `nan`, `inf` and `-inf`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    text = f"{number:.6g}"
    return text if "e" in text or "." in text else f"{text}.0"


def format_metrics(**values: float) -> str:
    """One line with every metric, in the order given: `epoch=1 loss=0.3125 accuracy=0.9`."""
    if not values:
        raise ValueError("format_metrics() needs at least one metric")
    return " ".join(f"{name}={format_value(value)}" for name, value in values.items())
