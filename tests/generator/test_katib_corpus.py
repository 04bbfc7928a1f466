"""Katib's own examples and e2e pair: every Experiment parses losslessly, applies Katib's
defaults and passes Katib's rules, except the examples that Katib's own webhook rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.checking import check_paths, katib_context
from generator.files import yamlio
from generator.katib.defaults import with_defaults
from generator.katib.models import Experiment
from generator.validation.context import Context

KATIB = Path(__file__).resolve().parent.parent / "katib"
EXAMPLES = sorted((KATIB / "examples").rglob("*.yaml"))
TRIAL_TEMPLATES = KATIB / "config" / "trial-templates.yaml"

# Examples Katib's own admission webhook rejects (its rule, then why):
KATIB_REJECTS = {
    # validator.go: maxFailedTrialCount (3) must not exceed maxTrialCount (2).
    "hp-tuning/simple-pbt.yaml": {("budget", "spec.maxFailedTrialCount")},
    # validateTrialTemplate: the PipelineRun never uses ${trialParameters.learningRate}.
    "tekton/pipeline-run.yaml": {
        ("trial-parameter-unused", "spec.trialTemplate.trialParameters[0].name")
    },
    # Katib's default trial-templates ConfigMap uses learningRate and momentum, while the
    # example declares learningRate, numberLayers and optimizer.
    "trial-template/trial-configmap-source.yaml": {
        ("trial-parameter-undefined", "spec.trialTemplate.trialSpec"),
        ("trial-parameter-unused", "spec.trialTemplate.trialParameters[1].name"),
        ("trial-parameter-unused", "spec.trialTemplate.trialParameters[2].name"),
    },
}


def name(path: Path) -> str:
    return path.relative_to(KATIB / "examples").as_posix()


def test_the_corpus_is_complete() -> None:
    assert len(EXAMPLES) == 33


@pytest.mark.parametrize("path", EXAMPLES, ids=name)
def test_each_example_parses_without_loss(path: Path) -> None:
    [document] = yamlio.load_all(path.read_text())
    assert Experiment.model_validate(document).to_wire() == document


@pytest.mark.parametrize("path", EXAMPLES, ids=name)
def test_each_example_is_judged_as_katib_judges_it(path: Path) -> None:
    checked = check_paths([path, TRIAL_TEMPLATES], Context())
    found = {(p.code, _path(p.path)) for p in checked.problems}
    assert found == KATIB_REJECTS.get(name(path), set())
    assert all(p.origin and p.origin.line > 1 for p in checked.problems)


def _path(path: tuple[str | int, ...]) -> str:
    from generator.problems import format_path

    return format_path(path)


@pytest.mark.parametrize("path", EXAMPLES, ids=name)
def test_defaults_are_idempotent_on_each_example(path: Path) -> None:
    [document] = yamlio.load_all(path.read_text())
    once = with_defaults(Experiment.model_validate(document))
    assert with_defaults(once).to_wire() == once.to_wire()


def test_the_e2e_pair_is_accepted_and_rejected_for_the_algorithm() -> None:
    assert check_paths([KATIB / "e2e" / "valid-experiment.yaml"], Context()).problems == []
    [problem] = check_paths([KATIB / "e2e" / "invalid-experiment.yaml"], Context()).problems
    assert (problem.code, problem.path) == (
        "algorithm-name",
        ("spec", "algorithm", "algorithmName"),
    )


def test_the_default_katib_config_does_not_watch_argo_workflows() -> None:
    context = katib_context(KATIB / "config" / "katib-config.yaml")
    assert "PrometheusMetric" not in context.collector_kinds
    [problem] = check_paths([KATIB / "examples" / "argo" / "argo-workflow.yaml"], context).problems
    assert problem.code == "trial-resource"
    assert "Workflow.v1alpha1.argoproj.io" in problem.message


def test_katib_defaults_of_a_job_example_match_the_webhook() -> None:
    [document] = yamlio.load_all((KATIB / "examples/hp-tuning/random.yaml").read_text())
    spec = with_defaults(Experiment.model_validate(document)).to_wire()["spec"]
    assert spec["resumePolicy"] == "Never"
    assert spec["objective"]["metricStrategies"] == [{"name": "loss", "value": "min"}]
    assert spec["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}
    assert [p["feasibleSpace"]["distribution"] for p in spec["parameters"]] == ["uniform"] * 2
    assert spec["trialTemplate"]["successCondition"] == (
        'status.conditions.#(type=="Complete")#|#(status=="True")#'
    )
    assert "primaryPodLabels" not in spec["trialTemplate"]


def test_katib_defaults_of_a_pytorchjob_and_a_file_collector() -> None:
    folder = KATIB / "examples"
    [pytorch] = yamlio.load_all(
        (folder / "kubeflow-training-operator/pytorchjob-mnist.yaml").read_text()
    )
    template = with_defaults(Experiment.model_validate(pytorch)).to_wire()["spec"]["trialTemplate"]
    assert template["primaryPodLabels"] == {"training.kubeflow.org/job-role": "master"}
    assert template["successCondition"] == (
        'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
    )
    [file] = yamlio.load_all((folder / "metrics-collector/file-metrics-collector.yaml").read_text())
    source = with_defaults(Experiment.model_validate(file)).to_wire()["spec"][
        "metricsCollectorSpec"
    ]
    assert source["source"]["fileSystemPath"]["format"] == "TEXT"
    assert source["source"]["fileSystemPath"]["kind"] == "File"
