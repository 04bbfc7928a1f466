"""Metrics-collector rules (Katib's `validateMetricsCollector`, per kind) and the metric
strategies of the objective."""

from __future__ import annotations

import posixpath
import re

from generator.katib.models import ExperimentSpec, SourceSpec
from generator.problems import FieldPath, Problem, did_you_mean
from generator.validation.context import Context

COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
FILE_FORMATS = ("TEXT", "JSON")
STRATEGIES = ("min", "max", "latest")
_SPEC: FieldPath = ("spec", "metricsCollectorSpec")
_SOURCE: FieldPath = (*_SPEC, "source")
_PATH: FieldPath = (*_SOURCE, "fileSystemPath")


def check(spec: ExperimentSpec, context: Context) -> list[Problem]:
    return _collector(spec, context) + _strategies(spec)


def _collector(spec: ExperimentSpec, context: Context) -> list[Problem]:
    collector_spec = spec.metrics_collector_spec
    collector = collector_spec.collector if collector_spec else None
    if collector_spec is None or collector is None:
        return []
    source = collector_spec.source or SourceSpec()
    kind = collector.kind
    problems: list[Problem] = []
    if kind not in COLLECTOR_KINDS:
        hint = did_you_mean(kind, COLLECTOR_KINDS)
        if kind == "None":
            hint = "Katib renamed the 'None' collector to 'Push'; use 'Push'"
        return [
            Problem(
                "collector-kind",
                (*_SPEC, "collector", "kind"),
                f"invalid metrics collector kind {kind!r}",
                hint,
            )
        ]
    if kind not in context.collector_kinds:
        problems.append(
            Problem(
                "collector-kind",
                (*_SPEC, "collector", "kind"),
                f"{context.source} has no {kind} metrics collector",
                "use StdOut, File, TensorFlowEvent, Custom or Push, or a katib-config that "
                f"provides a {kind} collector image",
            )
        )
    path = source.file_system_path
    if kind == "File":
        if path is None or path.kind != "File" or not _absolute(path.path):
            problems.append(
                Problem(
                    "collector-source",
                    (*_PATH, "path"),
                    "the File collector needs an absolute file path of kind File",
                    "e.g. file_collector('/var/log/katib/metrics.log')",
                    yaml_hint="e.g. source.fileSystemPath: {path: /var/log/katib/metrics.log, "
                    "kind: File}",
                )
            )
        file_format = path.format if path else None
        if file_format not in FILE_FORMATS:
            problems.append(
                Problem(
                    "collector-format",
                    (*_PATH, "format"),
                    f"format must be TEXT or JSON, got {file_format!r}",
                    did_you_mean(str(file_format), FILE_FORMATS),
                )
            )
        if file_format == "JSON" and source.filter is not None:
            problems.append(
                Problem(
                    "collector-filter",
                    (*_SOURCE, "filter"),
                    "a JSON metrics file takes no filter",
                    "remove the metrics_format, or use the TEXT format",
                )
            )
    elif kind == "TensorFlowEvent":
        if path is None or path.kind != "Directory" or not _absolute(path.path):
            problems.append(
                Problem(
                    "collector-source",
                    _SOURCE,
                    "the TensorFlowEvent collector needs an absolute directory of kind Directory",
                    "e.g. tensorflow_event_collector('/var/log/katib/tfevent/')",
                    yaml_hint="e.g. source.fileSystemPath: {path: /var/log/katib/tfevent/, "
                    "kind: Directory}",
                )
            )
        if path is not None and path.format:
            problems.append(
                Problem(
                    "collector-format",
                    (*_PATH, "format"),
                    f"must be empty for the TensorFlowEvent collector, got {path.format!r}",
                    "remove the format",
                )
            )
    elif kind == "PrometheusMetric":
        problems += _prometheus(source)
    elif kind == "Custom":
        if collector.custom_collector is None:
            problems.append(
                Problem(
                    "collector-custom",
                    (*_SPEC, "collector", "customCollector"),
                    "the Custom collector needs its container",
                    "give custom_collector(container(...))",
                    yaml_hint="give spec.metricsCollectorSpec.collector.customCollector a "
                    "container",
                )
            )
        if path is not None and (
            path.kind not in ("File", "Directory") or not _absolute(path.path)
        ):
            problems.append(
                Problem(
                    "collector-source",
                    _PATH,
                    "must be an absolute path of kind File or Directory",
                    "use an absolute path and kind File or Directory",
                )
            )
    problems += _formats(source)
    return problems


def _absolute(path: str | None) -> bool:
    return bool(path) and posixpath.isabs(path or "")


def _prometheus(source: SourceSpec) -> list[Problem]:
    problems = []
    http_get = source.http_get or {}
    port = http_get.get("port")
    if not (isinstance(port, int) and not isinstance(port, bool) and port > 0):
        problems.append(
            Problem(
                "collector-source",
                (*_SOURCE, "httpGet", "port"),
                f"must be a positive port number, got {port!r}",
                "e.g. port 8080",
            )
        )
    path = http_get.get("path")
    if not (isinstance(path, str) and path.startswith("/")):
        problems.append(
            Problem(
                "collector-source",
                (*_SOURCE, "httpGet", "path"),
                f"must start with '/', got {path!r}",
                "e.g. '/metrics'",
            )
        )
    return problems


def _formats(source: SourceSpec) -> list[Problem]:
    problems = []
    formats = source.filter.metrics_format if source.filter else None
    for index, pattern in enumerate(formats or []):
        path = (*_SOURCE, "filter", "metricsFormat", index)
        try:
            groups = re.compile(pattern).groups
        except re.error as err:
            problems.append(
                Problem(
                    "metrics-format",
                    path,
                    f"is not a valid regular expression ({err}), got {pattern!r}",
                    "fix the expression",
                )
            )
            continue
        if groups < 2:
            problems.append(
                Problem(
                    "metrics-format",
                    path,
                    f"needs two capturing groups (the metric name, then its value), "
                    f"got {groups} in {pattern!r}",
                    r"e.g. '([\w|-]+)\s*:\s*([+-]?\d*(\.\d+)?)'",
                )
            )
    return problems


def _strategies(spec: ExperimentSpec) -> list[Problem]:
    objective = spec.objective
    if objective is None:
        return []
    problems = []
    metrics = [objective.objective_metric_name, *(objective.additional_metric_names or [])]
    seen: set[str] = set()
    for index, name in enumerate(objective.additional_metric_names or []):
        if name in seen:
            problems.append(
                Problem(
                    "objective-metric",
                    ("spec", "objective", "additionalMetricNames", index),
                    f"duplicate metric {name!r}",
                    "list every additional metric once",
                )
            )
        seen.add(name)
    for index, strategy in enumerate(objective.metric_strategies or []):
        path = ("spec", "objective", "metricStrategies", index)
        if strategy.name not in metrics:
            problems.append(
                Problem(
                    "metric-strategy",
                    (*path, "name"),
                    f"{strategy.name!r} is neither the objective nor an additional metric",
                    did_you_mean(strategy.name, metrics),
                )
            )
        if strategy.value not in STRATEGIES:
            problems.append(
                Problem(
                    "metric-strategy",
                    (*path, "value"),
                    f"strategy must be min, max or latest, got {strategy.value!r}",
                    did_you_mean(strategy.value, STRATEGIES),
                )
            )
    return problems
