"""Builders that read like a user's intent and return the Katib wire models: an
experiment, its objective and algorithm, and its trial template (a batch/v1 Job, any
other kind inline, or a ConfigMap entry)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from generator.files.origin import caller_origin
from generator.katib.base import Manifest
from generator.katib.models import (
    AlgorithmSetting,
    AlgorithmSpec,
    ConfigMapSource,
    EarlyStoppingSpec,
    Experiment,
    ExperimentSpec,
    MetricsCollectorSpec,
    MetricStrategy,
    NasConfig,
    ObjectiveSpec,
    ObjectMeta,
    TrialParameterSpec,
    TrialTemplate,
)
from generator.language.space import SearchSpace, wire_value

DEFAULT_CONTAINER_NAME = "training-container"


def maximize(
    metric: str,
    *,
    goal: float | None = None,
    additional_metrics: Sequence[str] = (),
    metric_strategies: Mapping[str, str] | None = None,
) -> ObjectiveSpec:
    """Maximize `metric`; the experiment succeeds once a trial reaches `goal`.
    `metric_strategies` maps a metric to min, max or latest (by default Katib's)."""
    return _objective("maximize", metric, goal, additional_metrics, metric_strategies)


def minimize(
    metric: str,
    *,
    goal: float | None = None,
    additional_metrics: Sequence[str] = (),
    metric_strategies: Mapping[str, str] | None = None,
) -> ObjectiveSpec:
    """Minimize `metric`; the experiment succeeds once a trial reaches `goal`."""
    return _objective("minimize", metric, goal, additional_metrics, metric_strategies)


def _objective(
    kind: str,
    metric: str,
    goal: float | None,
    additional: Sequence[str],
    strategies: Mapping[str, str] | None,
) -> ObjectiveSpec:
    objective = ObjectiveSpec(
        type=kind,
        goal=goal,
        objective_metric_name=metric,
        additional_metric_names=list(additional) or None,
        metric_strategies=(
            [MetricStrategy(name=k, value=v) for k, v in strategies.items()]
            if strategies is not None
            else None
        ),
    )
    return objective.located(caller_origin())


def algorithm(name: str, **settings: int | float | str) -> AlgorithmSpec:
    """A suggestion algorithm by Katib's name, with its settings as keyword arguments.
    `generator.language.tuning` has a typed builder for each of Katib's algorithms."""
    spec = AlgorithmSpec(
        algorithm_name=name,
        algorithm_settings=[
            AlgorithmSetting(name=key, value=wire_value(value)) for key, value in settings.items()
        ]
        or None,
    )
    return spec.located(caller_origin())


def container(
    name: str = DEFAULT_CONTAINER_NAME,
    *,
    image: str,
    command: Sequence[str] | None = None,
    args: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    working_dir: str | None = None,
    resources: Manifest | None = None,
) -> Manifest:
    """A Kubernetes container as plain data, keys in the Kubernetes order."""
    spec: Manifest = {"name": name, "image": image}
    if command is not None:
        spec["command"] = list(command)
    if args is not None:
        spec["args"] = list(args)
    if env:
        spec["env"] = [{"name": key, "value": value} for key, value in env.items()]
    if working_dir is not None:
        spec["workingDir"] = working_dir
    if resources is not None:
        spec["resources"] = resources
    return spec


def trial_parameter(
    name: str, reference: str, description: str | None = None
) -> TrialParameterSpec:
    """A trial parameter by hand: usually a meta reference such as TRIAL_NAME."""
    spec = TrialParameterSpec(name=name, description=description, reference=reference)
    return spec.located(caller_origin())


def config_map_source(name: str, *, namespace: str, template_path: str) -> ConfigMapSource:
    """A trial template kept in a ConfigMap entry (the ConfigMap must be deployed too)."""
    return ConfigMapSource(
        config_map_name=name, config_map_namespace=namespace, template_path=template_path
    )


def trial_template(
    trial_spec: Manifest | None = None,
    *,
    config_map: ConfigMapSource | None = None,
    primary_container_name: str | None = None,
    primary_pod_labels: Mapping[str, str] | None = None,
    success_condition: str | None = None,
    failure_condition: str | None = None,
    retain: bool | None = None,
    extra_trial_parameters: Sequence[TrialParameterSpec] = (),
) -> TrialTemplate:
    """A trial of any kind: an inline manifest (TFJob, PyTorchJob, an Argo Workflow, ...)
    or a ConfigMap entry. Kinds other than Job and Kubeflow's jobs need both conditions."""
    template = TrialTemplate(
        primary_container_name=primary_container_name,
        primary_pod_labels=dict(primary_pod_labels) if primary_pod_labels is not None else None,
        success_condition=success_condition,
        failure_condition=failure_condition,
        retain=retain,
        trial_parameters=list(extra_trial_parameters) or None,
        trial_spec=trial_spec,
        config_map=config_map,
    )
    return template.located(caller_origin())


def job(
    *containers: Manifest,
    primary_container: str | None = None,
    restart_policy: str = "Never",
    backoff_limit: int | None = None,
    active_deadline_seconds: int | None = None,
    retain: bool | None = None,
    extra_trial_parameters: Sequence[TrialParameterSpec] = (),
) -> TrialTemplate:
    """A batch/v1 Job trial. The primary container is the first one unless named.

    The trial parameters come from the experiment's search space; `extra_trial_parameters`
    adds meta references such as `trial_parameter("trialName", TRIAL_NAME)`.
    """
    if not containers:
        raise ValueError("job() needs at least one container(...)")
    job_spec: Manifest = {}
    if backoff_limit is not None:
        job_spec["backoffLimit"] = backoff_limit
    if active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = active_deadline_seconds
    job_spec["template"] = {
        "spec": {"containers": list(containers), "restartPolicy": restart_policy}
    }
    template = TrialTemplate(
        primary_container_name=primary_container or containers[0].get("name"),
        retain=retain,
        trial_parameters=list(extra_trial_parameters) or None,
        trial_spec={"apiVersion": "batch/v1", "kind": "Job", "spec": job_spec},
    )
    return template.located(caller_origin())


def experiment(
    name: str,
    *,
    objective: ObjectiveSpec,
    algorithm: AlgorithmSpec,
    trial: TrialTemplate,
    parameters: SearchSpace | None = None,
    nas_config: NasConfig | None = None,
    early_stopping: EarlyStoppingSpec | None = None,
    max_trial_count: int | None = None,
    parallel_trial_count: int | None = None,
    max_failed_trial_count: int | None = None,
    metrics_collector: MetricsCollectorSpec | None = None,
    resume_policy: str | None = None,
    trial_parameters: Sequence[TrialParameterSpec] | None = None,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Experiment:
    """A Katib Experiment. Every search-space parameter becomes a trial parameter of the
    same name (or the name given by `trial_parameter=`), followed by the template's extra
    ones; `trial_parameters=` gives the whole list by hand instead."""
    if trial_parameters is not None:
        chosen = list(trial_parameters)
    else:
        derived = parameters.trial_parameters() if parameters is not None else []
        chosen = derived + list(trial.trial_parameters or [])
    template = trial.model_copy(update={"trial_parameters": chosen})
    spec = ExperimentSpec(
        objective=objective,
        algorithm=algorithm,
        early_stopping=early_stopping,
        parallel_trial_count=parallel_trial_count,
        max_trial_count=max_trial_count,
        max_failed_trial_count=max_failed_trial_count,
        resume_policy=resume_policy,
        metrics_collector_spec=metrics_collector,
        parameters=parameters.parameters() if parameters is not None else None,
        nas_config=nas_config,
        trial_template=template,
    )
    metadata = ObjectMeta(
        name=name,
        namespace=namespace,
        labels=dict(labels) if labels else None,
        annotations=dict(annotations) if annotations else None,
    )
    result = Experiment(metadata=metadata, spec=spec)
    return result.located(caller_origin())
