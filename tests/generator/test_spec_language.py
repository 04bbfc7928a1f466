"""The spec language: builders produce Katib's wire shape; defaults are Katib's and
idempotent; the public API is exactly what is documented."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import generator
from generator import (
    SearchSpace,
    algorithm,
    categorical,
    container,
    double,
    experiment,
    integer,
    job,
    maximize,
    minimize,
)
from generator.katib.defaults import with_defaults
from generator.validation.admission import validate_experiment
from generator.validation.schema import check_manifest


def build(space: SearchSpace, objective_type: str = "maximize") -> generator.Experiment:
    goal = maximize if objective_type == "maximize" else minimize
    return experiment(
        "example",
        objective=goal("accuracy", additional_metrics=["loss"]),
        algorithm=algorithm("random", random_state=3),
        parameters=space,
        trial=job(container(image="img:1", command=["python", "-m", "t"], args=space.cli_args())),
    )


def test_the_public_api_is_exactly_the_documented_names() -> None:
    by_kind = sorted(generator.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert generator.__all__ == by_kind  # constants, classes, functions: ruff's order
    assert set(generator.__all__) == {
        "Environment", "Experiment", "SearchSpace", "TRIAL_API_VERSION", "TRIAL_KIND",
        "TRIAL_NAME", "TRIAL_NAMESPACE", "algorithm", "bayesian_optimization", "budget",
        "categorical", "gitops", "image", "resources",
        "cmaes", "config_map_source", "container", "custom_collector", "darts", "discrete",
        "double", "early_stopping", "enas", "environment", "experiment", "file_collector",
        "grid", "hyperband", "integer", "job", "maximize", "median_stop", "metrics_collector",
        "minimize", "multivariate_tpe", "nas_config", "operation", "pbt",
        "prometheus_collector", "push_collector", "random_search", "sobol", "stdout_collector",
        "tensorflow_event_collector", "tpe", "trial_annotation", "trial_label",
        "trial_parameter", "trial_template", "trial_templates",
    }  # fmt: skip


def test_parameters_are_wired_to_arguments_by_name() -> None:
    space = SearchSpace({"learning-rate": double(0.01, 0.1)}, batch_size=categorical([32, 64]))
    assert space.cli_args() == [
        "--learning-rate=${trialParameters.learning-rate}",
        "--batch-size=${trialParameters.batch_size}",
    ]
    assert space.batch_size == "${trialParameters.batch_size}"
    assert f"--lr={space['learning-rate']}" == "--lr=${trialParameters.learning-rate}"
    wire = build(space).to_wire()["spec"]
    assert wire["trialTemplate"]["trialParameters"] == [
        {"name": "learning-rate", "reference": "learning-rate"},
        {"name": "batch_size", "reference": "batch_size"},
    ]
    assert wire["parameters"][1]["feasibleSpace"] == {"list": ["32", "64"]}


def test_katib_defaults_are_filled_in() -> None:
    wire = with_defaults(build(SearchSpace(lr=double(0.01, 0.1)), "minimize")).to_wire()["spec"]
    assert wire["parallelTrialCount"] == 3
    assert wire["resumePolicy"] == "Never"
    assert wire["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}
    assert wire["objective"]["metricStrategies"] == [
        {"name": "accuracy", "value": "min"},
        {"name": "loss", "value": "min"},
    ]
    assert wire["parameters"][0]["feasibleSpace"]["distribution"] == "uniform"
    template = wire["trialTemplate"]
    assert (
        template["successCondition"] == 'status.conditions.#(type=="Complete")#|#(status=="True")#'
    )
    assert template["failureCondition"] == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    assert "primaryPodLabels" not in template


bounds = st.tuples(
    st.floats(-1e6, 1e6, allow_nan=False), st.floats(1e-3, 1e6, allow_nan=False)
).map(lambda pair: (pair[0], pair[0] + pair[1]))
ints = st.tuples(st.integers(-1000, 1000), st.integers(1, 1000)).map(lambda p: (p[0], p[0] + p[1]))
values = st.lists(st.integers(0, 1000), min_size=1, max_size=6, unique=True)


@given(bounds, ints, values, st.sampled_from(["maximize", "minimize"]))
def test_valid_specs_render_schema_valid_and_defaults_are_idempotent(
    real: tuple[float, float], whole: tuple[int, int], listed: list[int], objective: str
) -> None:
    space = SearchSpace(a=double(*real), b=integer(*whole), c=categorical(listed))
    defaulted, problems = validate_experiment(build(space, objective))
    assert problems == []
    assert check_manifest(defaulted.to_wire()) == []
    assert with_defaults(defaulted).to_wire() == defaulted.to_wire()
