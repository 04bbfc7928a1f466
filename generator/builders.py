"""Builders that read like a user's intent and return the Katib wire models: an
experiment, its objective and algorithm, and a batch/v1 Job trial template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from generator._base import Manifest
from generator.models import (
    AlgorithmSetting,
    AlgorithmSpec,
    Experiment,
    ExperimentSpec,
    MetricsCollectorSpec,
    ObjectiveSpec,
    ObjectMeta,
    TrialParameterSpec,
    TrialTemplate,
)
from generator.origin import caller_origin
from generator.space import SearchSpace, wire_value

DEFAULT_CONTAINER_NAME = "training-container"


def maximize(
    metric: str, *, goal: float | None = None, additional_metrics: Sequence[str] = ()
) -> ObjectiveSpec:
    """Maximize `metric`; the experiment succeeds once a trial reaches `goal`."""
    return _objective("maximize", metric, goal, additional_metrics)


def minimize(
    metric: str, *, goal: float | None = None, additional_metrics: Sequence[str] = ()
) -> ObjectiveSpec:
    """Minimize `metric`; the experiment succeeds once a trial reaches `goal`."""
    return _objective("minimize", metric, goal, additional_metrics)


def _objective(
    kind: str, metric: str, goal: float | None, additional: Sequence[str]
) -> ObjectiveSpec:
    objective = ObjectiveSpec(
        type=kind,
        goal=goal,
        objective_metric_name=metric,
        additional_metric_names=list(additional) or None,
    )
    return objective.located(caller_origin())


def algorithm(name: str, **settings: int | float | str) -> AlgorithmSpec:
    """A suggestion algorithm by Katib's name, with its settings as keyword arguments."""
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
    adds meta references such as `${trialSpec.Name}`.
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
    parameters: SearchSpace,
    trial: TrialTemplate,
    max_trial_count: int | None = None,
    parallel_trial_count: int | None = None,
    max_failed_trial_count: int | None = None,
    metrics_collector: MetricsCollectorSpec | None = None,
    resume_policy: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Experiment:
    """A Katib Experiment. Every search-space parameter becomes a trial parameter of the
    same name (or the name given by `trial_parameter=`), referenced by its placeholder."""
    template = trial.model_copy(
        update={
            "trial_parameters": parameters.trial_parameters() + list(trial.trial_parameters or [])
        }
    )
    spec = ExperimentSpec(
        objective=objective,
        algorithm=algorithm,
        parallel_trial_count=parallel_trial_count,
        max_trial_count=max_trial_count,
        max_failed_trial_count=max_failed_trial_count,
        resume_policy=resume_policy,
        metrics_collector_spec=metrics_collector,
        parameters=parameters.parameters(),
        trial_template=template,
    )
    metadata = ObjectMeta(
        name=name,
        labels=dict(labels) if labels else None,
        annotations=dict(annotations) if annotations else None,
    )
    result = Experiment(metadata=metadata, spec=spec)
    return result.located(caller_origin())
