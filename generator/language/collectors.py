"""Builders of the metrics collector: where Katib reads a trial's metrics from. Katib's
defaults fill what is left out (StdOut; the File collector's /var/log/katib/metrics.log
in TEXT; the TensorFlowEvent collector's /var/log/katib/tfevent/; Prometheus' :8080/metrics)."""

from __future__ import annotations

from collections.abc import Sequence

from generator.files.origin import caller_origin
from generator.katib.base import Manifest
from generator.katib.models import (
    CollectorSpec,
    FileSystemPath,
    FilterSpec,
    MetricsCollectorSpec,
    SourceSpec,
)

# Katib's default metricsFormat for the StdOut and File TEXT collectors: group 1 is the
# metric's name, group 2 its value (`pkg/metricscollector/v1beta1/common/const.go`).
# `trainers.metricline` writes lines it reads (and keeps a copy: trainers import nothing
# of hpo-gen's; a test holds the two equal).
DEFAULT_METRICS_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


def metrics_collector(
    kind: str,
    *,
    path: str | None = None,
    path_kind: str | None = None,
    file_format: str | None = None,
    metrics_format: Sequence[str] | None = None,
    http_get: Manifest | None = None,
    custom_collector: Manifest | None = None,
) -> MetricsCollectorSpec:
    """Any collector, field by field; the functions below are the usual shapes."""
    file_system_path = None
    if path is not None or path_kind is not None or file_format is not None:
        file_system_path = FileSystemPath(path=path, kind=path_kind, format=file_format)
    filter_spec = (
        FilterSpec(metrics_format=list(metrics_format)) if metrics_format is not None else None
    )
    source = None
    if file_system_path is not None or filter_spec is not None or http_get is not None:
        source = SourceSpec(
            file_system_path=file_system_path, filter=filter_spec, http_get=http_get
        )
    spec = MetricsCollectorSpec(
        collector=CollectorSpec(kind=kind, custom_collector=custom_collector), source=source
    )
    return spec.located(caller_origin())


def stdout_collector(metrics_format: Sequence[str] | None = None) -> MetricsCollectorSpec:
    """Metrics from the trial's standard output (`name=value`, or your own regexes with
    two groups: the name, then the value)."""
    return metrics_collector("StdOut", metrics_format=metrics_format).located(caller_origin())


def file_collector(
    path: str | None = None,
    *,
    file_format: str | None = None,
    metrics_format: Sequence[str] | None = None,
) -> MetricsCollectorSpec:
    """Metrics from a file the trial writes, TEXT lines or JSON lines."""
    spec = metrics_collector(
        "File",
        path=path,
        path_kind="File" if path is not None else None,
        file_format=file_format,
        metrics_format=metrics_format,
    )
    return spec.located(caller_origin())


def tensorflow_event_collector(path: str | None = None) -> MetricsCollectorSpec:
    """Scalar summaries from TensorFlow event files under a directory."""
    spec = metrics_collector(
        "TensorFlowEvent", path=path, path_kind="Directory" if path is not None else None
    )
    return spec.located(caller_origin())


def prometheus_collector(port: int | None = None, path: str | None = None) -> MetricsCollectorSpec:
    """Metrics scraped from the trial's Prometheus endpoint (needs a katib-config entry)."""
    http_get: Manifest = {}
    if path is not None:
        http_get["path"] = path
    if port is not None:
        http_get["port"] = port
    spec = metrics_collector("PrometheusMetric", http_get=http_get or None)
    return spec.located(caller_origin())


def custom_collector(
    collector: Manifest, *, path: str | None = None, path_kind: str | None = None
) -> MetricsCollectorSpec:
    """Your own collector container, reading what the trial leaves at `path`."""
    spec = metrics_collector("Custom", path=path, path_kind=path_kind, custom_collector=collector)
    return spec.located(caller_origin())


def push_collector() -> MetricsCollectorSpec:
    """Trials report their metrics themselves (`trainers.report_metrics`)."""
    return metrics_collector("Push").located(caller_origin())
