"""Pydantic models of Katib's v1beta1 Experiment, field by field as in Katib's Go types
(`pkg/apis/controller/experiments/v1beta1`). Shapes and types only: the rules that relate fields
to each other live in `generator.validation.rules`, the defaults in
`generator.katib.defaults`."""

from __future__ import annotations

from pydantic import Field

from generator.katib.base import KatibModel, Manifest

API_VERSION = "kubeflow.org/v1beta1"
KIND = "Experiment"


class ObjectMeta(KatibModel):
    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class MetricStrategy(KatibModel):
    name: str
    value: str


class ObjectiveSpec(KatibModel):
    type: str
    goal: float | None = None
    objective_metric_name: str
    additional_metric_names: list[str] | None = None
    metric_strategies: list[MetricStrategy] | None = None


class AlgorithmSetting(KatibModel):
    name: str
    value: str


class AlgorithmSpec(KatibModel):
    algorithm_name: str
    algorithm_settings: list[AlgorithmSetting] | None = None


class EarlyStoppingSetting(KatibModel):
    name: str
    value: str


class EarlyStoppingSpec(KatibModel):
    algorithm_name: str
    algorithm_settings: list[EarlyStoppingSetting] | None = None


class FeasibleSpace(KatibModel):
    min: str | None = None
    max: str | None = None
    step: str | None = None
    list_: list[str] | None = Field(default=None, alias="list")
    distribution: str | None = None


class ParameterSpec(KatibModel):
    name: str
    parameter_type: str
    feasible_space: FeasibleSpace


class GraphConfig(KatibModel):
    num_layers: int | None = None
    input_sizes: list[int] | None = None
    output_sizes: list[int] | None = None


class Operation(KatibModel):
    operation_type: str
    parameters: list[ParameterSpec] | None = None


class NasConfig(KatibModel):
    graph_config: GraphConfig | None = None
    operations: list[Operation] | None = None


class TrialParameterSpec(KatibModel):
    name: str
    description: str | None = None
    reference: str


class ConfigMapSource(KatibModel):
    config_map_name: str | None = None
    config_map_namespace: str | None = None
    template_path: str | None = None


class TrialTemplate(KatibModel):
    primary_container_name: str | None = None
    primary_pod_labels: dict[str, str] | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    retain: bool | None = None
    trial_parameters: list[TrialParameterSpec] | None = None
    trial_spec: Manifest | None = None
    config_map: ConfigMapSource | None = None


class FileSystemPath(KatibModel):
    path: str | None = None
    kind: str | None = None
    format: str | None = None


class FilterSpec(KatibModel):
    metrics_format: list[str] | None = None


class SourceSpec(KatibModel):
    file_system_path: FileSystemPath | None = None
    filter: FilterSpec | None = None
    http_get: Manifest | None = None


class CollectorSpec(KatibModel):
    kind: str
    custom_collector: Manifest | None = None


class MetricsCollectorSpec(KatibModel):
    collector: CollectorSpec | None = None
    source: SourceSpec | None = None


class ExperimentSpec(KatibModel):
    objective: ObjectiveSpec | None = None
    algorithm: AlgorithmSpec | None = None
    early_stopping: EarlyStoppingSpec | None = None
    parallel_trial_count: int | None = None
    max_trial_count: int | None = None
    max_failed_trial_count: int | None = None
    resume_policy: str | None = None
    metrics_collector_spec: MetricsCollectorSpec | None = None
    parameters: list[ParameterSpec] | None = None
    nas_config: NasConfig | None = None
    trial_template: TrialTemplate | None = None


class Experiment(KatibModel):
    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    kind: str = KIND
    metadata: ObjectMeta
    spec: ExperimentSpec

    @property
    def name(self) -> str:
        return self.metadata.name
