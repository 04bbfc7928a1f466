"""Katib's mutating webhook, offline: `with_defaults` fills in exactly what Katib's
`Experiment.SetDefault()` fills in (`experiment_defaults.go`), so that what hpo-gen renders
is what the cluster stores and Argo CD sees no drift. Idempotent: applying it twice
changes nothing more."""

from __future__ import annotations

from generator.katib.models import (
    CollectorSpec,
    Experiment,
    FileSystemPath,
    MetricsCollectorSpec,
    MetricStrategy,
    ObjectiveSpec,
    ParameterSpec,
    SourceSpec,
    TrialTemplate,
)

DEFAULT_PARALLEL_TRIAL_COUNT = 3
DEFAULT_RESUME_POLICY = "Never"
DEFAULT_DISTRIBUTION = "uniform"
DEFAULT_COLLECTOR_KIND = "StdOut"
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_DIR = "/var/log/katib/tfevent/"
DEFAULT_PROMETHEUS_PATH = "/metrics"
DEFAULT_PROMETHEUS_PORT = 8080

JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
JOB_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
KUBEFLOW_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'

# Kind -> (successCondition, failureCondition, primaryPodLabels); matched by kind only,
# as Katib does (the API group is ignored).
TRIAL_KIND_DEFAULTS: dict[str, tuple[str, str, dict[str, str] | None]] = {
    "Job": (JOB_SUCCESS, JOB_FAILURE, None),
    "TFJob": (KUBEFLOW_SUCCESS, KUBEFLOW_FAILURE, {"training.kubeflow.org/job-role": "master"}),
    "PyTorchJob": (
        KUBEFLOW_SUCCESS,
        KUBEFLOW_FAILURE,
        {"training.kubeflow.org/job-role": "master"},
    ),
    "XGBoostJob": (
        KUBEFLOW_SUCCESS,
        KUBEFLOW_FAILURE,
        {"training.kubeflow.org/job-role": "master"},
    ),
    "MPIJob": (KUBEFLOW_SUCCESS, KUBEFLOW_FAILURE, {"training.kubeflow.org/job-role": "master"}),
    "TrainJob": (
        JOB_SUCCESS,
        JOB_FAILURE,
        {
            "jobset.sigs.k8s.io/replicatedjob-name": "node",
            "batch.kubernetes.io/job-completion-index": "0",
        },
    ),
}


def with_defaults(experiment: Experiment) -> Experiment:
    """The Experiment as Katib's defaulting webhook would store it."""
    spec = experiment.spec
    updated = spec.model_copy(
        update={
            "parallel_trial_count": (
                DEFAULT_PARALLEL_TRIAL_COUNT
                if spec.parallel_trial_count is None
                else spec.parallel_trial_count
            ),
            "resume_policy": spec.resume_policy or DEFAULT_RESUME_POLICY,
            "objective": _objective(spec.objective),
            "trial_template": _trial_template(spec.trial_template),
            "metrics_collector_spec": _metrics_collector(spec.metrics_collector_spec),
            "parameters": _parameters(spec.parameters),
        }
    )
    return experiment.model_copy(update={"spec": updated})


def _objective(objective: ObjectiveSpec | None) -> ObjectiveSpec | None:
    if objective is None:
        return None
    strategies = list(objective.metric_strategies or [])
    named = {s.name for s in strategies}
    if objective.objective_metric_name not in named:
        value = {"minimize": "min", "maximize": "max"}.get(objective.type, "latest")
        strategies.append(MetricStrategy(name=objective.objective_metric_name, value=value))
        named.add(objective.objective_metric_name)
    for metric in objective.additional_metric_names or []:
        if metric not in named:
            # Katib follows the objective's direction here (its comment says "latest").
            value = "min" if objective.type == "minimize" else "max"
            strategies.append(MetricStrategy(name=metric, value=value))
            named.add(metric)
    return objective.model_copy(update={"metric_strategies": strategies})


def _trial_template(template: TrialTemplate | None) -> TrialTemplate | None:
    if template is None or template.trial_spec is None:
        return template  # ConfigMap sources get no defaults in Katib
    kind = template.trial_spec.get("kind")
    known = TRIAL_KIND_DEFAULTS.get(kind) if isinstance(kind, str) else None
    if known is None:
        return template
    success, failure, pod_labels = known
    return template.model_copy(
        update={
            "success_condition": template.success_condition or success,
            "failure_condition": template.failure_condition or failure,
            "primary_pod_labels": template.primary_pod_labels or pod_labels,
        }
    )


def _metrics_collector(spec: MetricsCollectorSpec | None) -> MetricsCollectorSpec:
    spec = spec or MetricsCollectorSpec()
    collector = spec.collector or CollectorSpec(kind=DEFAULT_COLLECTOR_KIND)
    source = spec.source
    if collector.kind == "PrometheusMetric":
        http_get = dict(source.http_get or {}) if source else {}
        http_get.setdefault("path", DEFAULT_PROMETHEUS_PATH)
        http_get.setdefault("port", DEFAULT_PROMETHEUS_PORT)
        source = (source or SourceSpec()).model_copy(update={"http_get": http_get})
    elif collector.kind == "File":
        source = _file_source(source, "File", DEFAULT_METRICS_FILE, "TEXT")
    elif collector.kind == "TensorFlowEvent":
        source = _file_source(source, "Directory", DEFAULT_TFEVENT_DIR, None)
    return spec.model_copy(update={"collector": collector, "source": source})


def _file_source(
    source: SourceSpec | None, kind: str, path: str, file_format: str | None
) -> SourceSpec:
    source = source or SourceSpec()
    current = source.file_system_path or FileSystemPath()
    filled = current.model_copy(
        update={
            "kind": current.kind or kind,
            "path": current.path or path,
            "format": current.format or file_format,
        }
    )
    return source.model_copy(update={"file_system_path": filled})


def _parameters(parameters: list[ParameterSpec] | None) -> list[ParameterSpec] | None:
    if parameters is None:
        return None
    result = []
    for parameter in parameters:
        space = parameter.feasible_space
        if space.distribution:
            result.append(parameter)
            continue
        filled = space.model_copy(update={"distribution": DEFAULT_DISTRIBUTION})
        result.append(parameter.model_copy(update={"feasible_space": filled}))
    return result
