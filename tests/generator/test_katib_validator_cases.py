"""Every case of Katib's `validator_test.go` (experiment, parameters, trial template,
trial Job, metrics collector, config data), run through hpo-gen's YAML pipeline with the
field paths hpo-gen reports. Katib's test mocks accept any algorithm and collector, so the
context does too. Where hpo-gen reports more than Katib (the checks Katib forgot, or
Katib's defaults applied first), the case says so."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from generator.importing.yamlspecs import YamlDocument, check_documents
from generator.katib.defaults import with_defaults
from generator.katib.models import Experiment
from generator.problems import format_path
from generator.validation.context import Context
from generator.validation.rules.update import DeployedStatus, check_update

Doc = dict[str, Any]
MOCKS = Context(
    algorithm_names=frozenset({"test"}),
    early_stopping_names=frozenset({"test"}),
    collector_kinds=frozenset(
        {"StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push"}
    ),
)
TEMPLATE_TEXT = """\
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
        - name: training-container
          image: test-image
          command:
            - --invalidParameter={'num_layers': 2, 'input_sizes': [32, 32, 3]}
            - --lr=${trialParameters.learningRate}"
            - --num-layers=${trialParameters.numberLayers}
"""
CONFIG_MAPS = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config-map-name", "namespace": "config-map-namespace"},
        "data": {"right-path": "kind: Job\n", "unparseable": TEMPLATE_TEXT},
    }
]


def fake() -> Doc:
    """Katib's newFakeInstance()."""
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "fake", "namespace": "fakens"},
        "spec": {
            "maxTrialCount": 6,
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "objective": {"type": "maximize", "goal": 0.11, "objectiveMetricName": "testme"},
            "algorithm": {
                "algorithmName": "test",
                "algorithmSettings": [{"name": "test1", "value": "value1"}],
            },
            "parameters": [
                {"name": "lr", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "5"}},
                {
                    "name": "num-layers",
                    "parameterType": "categorical",
                    "feasibleSpace": {"list": ["1", "2", "3"]},
                },
            ],
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "successCondition": 'status.conditions.#(type=="Complete")#|#(status=="True")#',
                "failureCondition": 'status.conditions.#(type=="Failed")#|#(status=="True")#',
                "trialParameters": [
                    {"name": "learningRate", "description": "Learning rate", "reference": "lr"},
                    {
                        "name": "numberLayers",
                        "description": "Number of layers",
                        "reference": "num-layers",
                    },
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "training-container",
                                        "image": "docker.io/kubeflowkatib/mxnet-mnist",
                                        "command": [
                                            "python3",
                                            "/opt/mxnet-mnist/mnist.py",
                                            "--lr=${trialParameters.learningRate}",
                                            "--num-layers=${trialParameters.numberLayers}",
                                        ],
                                    }
                                ]
                            }
                        }
                    },
                },
            },
        },
    }


def mutated(change: Callable[[Doc], None]) -> Doc:
    doc = copy.deepcopy(fake())
    change(doc)
    return doc


def spec(doc: Doc) -> Doc:
    return doc["spec"]  # type: ignore[no-any-return]


def template(doc: Doc) -> Doc:
    return doc["spec"]["trialTemplate"]  # type: ignore[no-any-return]


def container(doc: Doc) -> Doc:
    return template(doc)["trialSpec"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def paths(doc: Doc, context: Context = MOCKS) -> set[str]:
    documents = [YamlDocument("case.yaml", doc, {})]
    documents += [YamlDocument("maps.yaml", m, {}) for m in CONFIG_MAPS]
    return {format_path(p.path) for p in check_documents(documents, context).problems}


TT = "spec.trialTemplate"
MC = "spec.metricsCollectorSpec"


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        node: Any = doc
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parts[:-1]:
            node = node[part]
        if value is _DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = value

    return change


_DELETE = object()

EXPERIMENT_CASES = [
    ("name starts with a digit", _set("metadata.name", "1234-test"), {"metadata.name"}),
    (
        "name over 40 characters",
        _set("metadata.name", "test-manymanymanyextracharactersthatgobeyondlimit"),
        {"metadata.name"},
    ),
    ("objective is nil", _set("spec.objective", _DELETE), {"spec.objective"}),
    ("objective type is unknown", _set("spec.objective.type", ""), {"spec.objective.type"}),
    (
        "objective metric name is empty",
        _set("spec.objective.objectiveMetricName", ""),
        {"spec.objective.objectiveMetricName"},
    ),
    (
        "additional metrics repeat the objective",
        lambda d: spec(d)["objective"].update(
            objectiveMetricName="objective", additionalMetricNames=["objective", "objective-1"]
        ),
        {"spec.objective.additionalMetricNames[0]"},
    ),
    ("algorithm is nil", _set("spec.algorithm", _DELETE), {"spec.algorithm"}),
    (
        "algorithm name is empty",
        _set("spec.algorithm.algorithmName", ""),
        {"spec.algorithm.algorithmName"},
    ),
    ("early stopping is nil", lambda d: None, set()),
    (
        "early stopping name is empty",
        _set("spec.earlyStopping", {"algorithmName": ""}),
        {"spec.earlyStopping.algorithmName"},
    ),
    ("a correct experiment", lambda d: None, set()),
    (
        "max failed trial count is negative",
        _set("spec.maxFailedTrialCount", -1),
        {"spec.maxFailedTrialCount"},
    ),
    # Katib also reports parallelTrialCount (3 by default) > maxTrialCount (-1).
    (
        "max trial count is negative",
        _set("spec.maxTrialCount", -1),
        {"spec.maxTrialCount", "spec.parallelTrialCount"},
    ),
    (
        "parallel trial count is negative",
        _set("spec.parallelTrialCount", -1),
        {"spec.parallelTrialCount"},
    ),
    ("invalid resume policy", _set("spec.resumePolicy", "invalid-policy"), {"spec.resumePolicy"}),
    ("parameters and NAS config are nil", _set("spec.parameters", []), {"spec"}),
    (
        "parameters and NAS config are both set",
        _set("spec.nasConfig", {"operations": [{"operationType": "op1"}]}),
        {"spec"},
    ),
    ("trial template is nil", _set("spec.trialTemplate", _DELETE), {TT}),
    (
        "categorical parameter with a max",
        _set("spec.parameters.1.feasibleSpace.max", "5"),
        {"spec.parameters[1].feasibleSpace.max"},
    ),
    (
        "max failed above max trials",
        lambda d: spec(d).update(maxFailedTrialCount=7),
        {"spec.maxFailedTrialCount"},
    ),
    ("max failed equal to max trials", _set("spec.maxFailedTrialCount", 6), set()),
    ("parallel above max trials", _set("spec.parallelTrialCount", 7), {"spec.parallelTrialCount"}),
    ("parallel equal to max trials", _set("spec.parallelTrialCount", 6), set()),
]

PARAMETER_CASES = [
    (
        "invalid parameter type",
        _set("spec.parameters.0.parameterType", "invalid-type"),
        {"spec.parameters[0].parameterType"},
    ),
    # Katib's direct call sees no defaults and reports feasibleSpace; hpo-gen names min and max.
    (
        "feasible space is empty",
        _set("spec.parameters.0.feasibleSpace", {}),
        {"spec.parameters[0].feasibleSpace.min", "spec.parameters[0].feasibleSpace.max"},
    ),
    (
        "a list for an int parameter",
        _set("spec.parameters.0.feasibleSpace.list", ["invalid-list"]),
        {"spec.parameters[0].feasibleSpace.list"},
    ),
    (
        "empty min and max for an int parameter",
        _set("spec.parameters.0.feasibleSpace", {"min": "", "max": "", "step": "1"}),
        {"spec.parameters[0].feasibleSpace.min", "spec.parameters[0].feasibleSpace.max"},
    ),
    (
        "a max for a categorical parameter",
        _set("spec.parameters.1.feasibleSpace.max", "1"),
        {"spec.parameters[1].feasibleSpace.max"},
    ),
    (
        "invalid distribution",
        _set("spec.parameters.0.feasibleSpace.distribution", "invalid"),
        {"spec.parameters[0].feasibleSpace.distribution"},
    ),
    ("valid parameters", lambda d: None, set()),
]


def _meta_parameter(reference: str, metadata: Doc | None = None) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        template(doc)["trialParameters"].append({"name": "meta", "reference": reference})
        container(doc)["command"].append("--meta=${trialParameters.meta}")
        if metadata is not None:
            template(doc)["trialSpec"]["metadata"] = metadata

    return change


TEMPLATE_CASES = [
    ("trial parameters are nil", _set(f"{TT}.trialParameters", _DELETE), {f"{TT}.trialParameters"}),
    ("trial spec is nil", _set(f"{TT}.trialSpec", _DELETE), {TT}),
    (
        "trial spec and ConfigMap are both set",
        _set(f"{TT}.configMap", {"configMapName": "config-map-name"}),
        {TT},
    ),
    (
        "ConfigMap without a template path",
        lambda d: (
            template(d).pop("trialSpec"),
            template(d).update(
                configMap={
                    "configMapName": "config-map-name",
                    "configMapNamespace": "config-map-namespace",
                }
            ),
        ),
        {f"{TT}.configMap.templatePath"},
    ),
    (
        "wrong template path in the ConfigMap",
        lambda d: (
            template(d).pop("trialSpec"),
            template(d).update(
                configMap={
                    "configMapName": "config-map-name",
                    "configMapNamespace": "config-map-namespace",
                    "templatePath": "wrong-path",
                }
            ),
        ),
        {f"{TT}.configMap.templatePath"},
    ),
    # hpo-gen also says lr is now unreferenced and the template's placeholder undefined.
    (
        "empty reference",
        _set(f"{TT}.trialParameters.0.reference", ""),
        {f"{TT}.trialParameters[0]", f"{TT}.trialSpec", "spec.parameters[0].name"},
    ),
    (
        "braces in a trial parameter name",
        _set(f"{TT}.trialParameters.0.name", "{invalid-name}"),
        {f"{TT}.trialParameters[0]", f"{TT}.trialSpec", "spec.parameters[0].name"},
    ),
    (
        "duplicate trial parameter name",
        _set(f"{TT}.trialParameters.1.name", "learningRate"),
        {f"{TT}.trialParameters[1].name", f"{TT}.trialSpec"},
    ),
    (
        "duplicate reference",
        _set(f"{TT}.trialParameters.1.reference", "lr"),
        {f"{TT}.trialParameters[1].reference", "spec.parameters[1].name"},
    ),
    (
        "reference to no search-space parameter",
        _set(f"{TT}.trialParameters.1.reference", "wrong-ref"),
        {f"{TT}.trialParameters[1].reference", "spec.parameters[1].name"},
    ),
    # Katib's direct call skips the search-space check; the whole experiment needs one.
    (
        "wrong reference without parameters",
        lambda d: (
            _set(f"{TT}.trialParameters.1.reference", "wrong-ref")(d),
            spec(d).update(parameters=[]),
        ),
        {"spec"},
    ),
    ("meta reference trialSpec.Name", _meta_parameter("${trialSpec.Name}"), set()),
    (
        "meta reference to an annotation",
        _meta_parameter(
            "${trialSpec.Annotations[test-annotation]}", {"annotations": {"test-annotation": "a"}}
        ),
        set(),
    ),
    (
        "meta reference to a label",
        _meta_parameter("${trialSpec.Labels[test-label]}", {"labels": {"test-label": "l"}}),
        set(),
    ),
    # Katib admits this one and then fails to create every trial; hpo-gen says so up front.
    (
        "meta reference to a label the template lacks",
        _meta_parameter("${trialSpec.Labels[test-label]}"),
        {f"{TT}.trialParameters[2].reference"},
    ),
    (
        "template misses a trial parameter",
        lambda d: container(d)["command"].__setitem__(
            2, "--lr=${trialParameters.invalidParameter}"
        ),
        {f"{TT}.trialParameters[0].name", f"{TT}.trialSpec"},
    ),
    (
        "template has an extra placeholder",
        lambda d: container(d)["command"].append("--extra=${trialParameters.extraParameter}"),
        {f"{TT}.trialSpec"},
    ),
    (
        "template does not parse after substitution",
        lambda d: (
            template(d).pop("trialSpec"),
            template(d).update(
                configMap={
                    "configMapName": "config-map-name",
                    "configMapNamespace": "config-map-namespace",
                    "templatePath": "unparseable",
                }
            ),
        ),
        {f"{TT}.configMap"},
    ),
    (
        "template sets metadata name and namespace",
        _set(f"{TT}.trialSpec.metadata", {"name": "trial-name", "namespace": "trial-namespace"}),
        {f"{TT}.trialSpec.metadata.name", f"{TT}.trialSpec.metadata.namespace"},
    ),
    (
        "template without apiVersion",
        _set(f"{TT}.trialSpec.apiVersion", ""),
        {f"{TT}.trialSpec.apiVersion"},
    ),
    ("template of a custom kind", _set(f"{TT}.trialSpec.kind", "CustomKind"), set()),
    (
        "no primary container name",
        _set(f"{TT}.primaryContainerName", ""),
        {f"{TT}.primaryContainerName"},
    ),
    # Katib's defaults fill the conditions of a Job, so the rule shows on another kind.
    (
        "no success condition",
        lambda d: (
            _set(f"{TT}.trialSpec.kind", "CustomKind")(d),
            template(d).update(successCondition=""),
        ),
        {TT},
    ),
]

JOB = f"{TT}.trialSpec.spec.template"
JOB_CASES = [
    (
        "containers as a map",
        lambda d: template(d)["trialSpec"]["spec"]["template"]["spec"].update(
            containers=container(d)
        ),
        {f"{JOB}.spec.containers"},
    ),
    ("an unknown field", _set(f"{JOB}.invalidSpec", "not-job-format"), {JOB}),
    (
        "GPU resources",
        lambda d: container(d).update(
            resources={"limits": {"nvidia.com/gpu": 1}, "requests": {"nvidia.com/gpu": 1}}
        ),
        set(),
    ),
    (
        "not a batch/v1 Job",
        lambda d: (
            _set(f"{TT}.trialSpec.apiVersion", "test/v1")(d),
            _set(f"{JOB}.invalidSpec", 1)(d),
        ),
        set(),
    ),
]

SOURCE = f"{MC}.source"
COLLECTOR_CASES = [
    ("invalid kind", _set(MC, {"collector": {"kind": "invalid-kind"}}), {f"{MC}.collector.kind"}),
    (
        "File with a relative path",
        _set(
            MC,
            {
                "collector": {"kind": "File"},
                "source": {"fileSystemPath": {"path": "not/absolute/path"}},
            },
        ),
        {f"{SOURCE}.fileSystemPath.path"},
    ),
    (
        "TensorFlowEvent with a relative path",
        _set(
            MC,
            {
                "collector": {"kind": "TensorFlowEvent"},
                "source": {"fileSystemPath": {"path": "not/absolute/path"}},
            },
        ),
        {SOURCE},
    ),
    (
        "TensorFlowEvent with a format",
        _set(
            MC,
            {
                "collector": {"kind": "TensorFlowEvent"},
                "source": {
                    "fileSystemPath": {
                        "path": "/absolute/path",
                        "kind": "Directory",
                        "format": "JSON",
                    }
                },
            },
        ),
        {f"{SOURCE}.fileSystemPath.format"},
    ),
    # Katib's direct call sees no default path; hpo-gen fills /metrics first.
    (
        "Prometheus with a named port",
        _set(
            MC, {"collector": {"kind": "PrometheusMetric"}, "source": {"httpGet": {"port": "Port"}}}
        ),
        {f"{SOURCE}.httpGet.port"},
    ),
    (
        "Prometheus with a relative path",
        _set(
            MC,
            {
                "collector": {"kind": "PrometheusMetric"},
                "source": {"httpGet": {"port": 8888, "path": "not/valid/path"}},
            },
        ),
        {f"{SOURCE}.httpGet.path"},
    ),
    (
        "Custom without a container",
        _set(MC, {"collector": {"kind": "Custom"}}),
        {f"{MC}.collector.customCollector"},
    ),
    (
        "Custom with a relative path",
        _set(
            MC,
            {
                "collector": {"kind": "Custom", "customCollector": {"name": "my-collector"}},
                "source": {"fileSystemPath": {"path": "not/absolute/path"}},
            },
        ),
        {f"{SOURCE}.fileSystemPath"},
    ),
    (
        "File with an invalid regex",
        _set(
            MC,
            {
                "collector": {"kind": "File"},
                "source": {
                    "filter": {"metricsFormat": ["["]},
                    "fileSystemPath": {"path": "/absolute/path", "kind": "File"},
                },
            },
        ),
        {f"{SOURCE}.filter.metricsFormat[0]"},
    ),
    (
        "File with one subexpression",
        _set(
            MC,
            {
                "collector": {"kind": "File"},
                "source": {
                    "filter": {"metricsFormat": ["{metricName: ([\\w|-]+)}"]},
                    "fileSystemPath": {"path": "/absolute/path", "kind": "File"},
                },
            },
        ),
        {f"{SOURCE}.filter.metricsFormat[0]"},
    ),
    (
        "File with an invalid format",
        _set(
            MC,
            {
                "collector": {"kind": "File"},
                "source": {
                    "fileSystemPath": {
                        "path": "/absolute/path",
                        "kind": "File",
                        "format": "invalid",
                    }
                },
            },
        ),
        {f"{SOURCE}.fileSystemPath.format"},
    ),
    (
        "JSON file with an empty filter",
        _set(
            MC,
            {
                "collector": {"kind": "File"},
                "source": {
                    "filter": {},
                    "fileSystemPath": {"path": "/absolute/path", "kind": "File", "format": "JSON"},
                },
            },
        ),
        {f"{SOURCE}.filter"},
    ),
    (
        "a valid JSON file collector",
        _set(
            MC,
            {
                "collector": {"kind": "File"},
                "source": {
                    "fileSystemPath": {"path": "/absolute/path", "kind": "File", "format": "JSON"}
                },
            },
        ),
        set(),
    ),
]


@pytest.mark.parametrize(
    "change,expected",
    [
        pytest.param(change, expected, id=case)
        for case, change, expected in EXPERIMENT_CASES
        + PARAMETER_CASES
        + TEMPLATE_CASES
        + JOB_CASES
        + COLLECTOR_CASES
    ],
)
def test_katib_validator_case(change: Callable[[Doc], None], expected: set[str]) -> None:
    assert paths(mutated(change)) == expected


def test_a_config_without_the_algorithm_or_collector_rejects_them() -> None:
    without_algorithm = Context(
        algorithm_names=frozenset(), early_stopping_names=frozenset({"test"})
    )
    assert paths(fake(), without_algorithm) == {"spec.algorithm.algorithmName"}
    without_stdout = Context(
        algorithm_names=frozenset({"test"}), collector_kinds=frozenset({"File", "Custom", "Push"})
    )
    assert paths(fake(), without_stdout) == {f"{MC}.collector.kind"}


# validator_test.go's UPDATE cases: the deployed (old) experiment, its status, and the
# new one. hpo-gen compares defaulted specs, so a new spec that only spells a default
# (resumePolicy "" for Never) is no change; the restart case changes the budget instead.
def _experiment(change: Callable[[Doc], None] = lambda d: None) -> Experiment:
    return with_defaults(Experiment.model_validate(mutated(change)))


UPDATE_CASES = [
    ("a correct resume", _experiment(), DeployedStatus(), _experiment(), set()),
    (
        "restarting a finished experiment whose resume policy is Never",
        _experiment(_set("spec.resumePolicy", "Never")),
        DeployedStatus(6, "Succeeded", "ExperimentMaxTrialsReached"),
        _experiment(_set("spec.maxTrialCount", 8)),
        {"spec.resumePolicy"},
    ),
    (
        "max trial count not above the trials run",
        _experiment(_set("spec.maxFailedTrialCount", 2)),
        DeployedStatus(6),
        _experiment(),
        {"spec.maxTrialCount"},
    ),
    (
        "changing the algorithm",
        _experiment(_set("spec.algorithm.algorithmName", "not-test")),
        DeployedStatus(),
        _experiment(),
        {"spec"},
    ),
    (
        "restarting a LongRunning experiment with a larger budget",
        _experiment(_set("spec.resumePolicy", "LongRunning")),
        DeployedStatus(6, "Succeeded", "ExperimentMaxTrialsReached"),
        _experiment(lambda d: spec(d).update(resumePolicy="LongRunning", maxTrialCount=10)),
        set(),
    ),
]


@pytest.mark.parametrize(
    "old,status,new,expected",
    [pytest.param(o, s, n, e, id=case) for case, o, s, n, e in UPDATE_CASES],
)
def test_katib_update_case(
    old: Experiment, status: DeployedStatus, new: Experiment, expected: set[str]
) -> None:
    assert {format_path(p.path) for p in check_update(new, old, status)} == expected
