"""Laws of the spec pipeline, over generated specs: valid specs render schema-valid and
survive import unchanged; invalid mutations are rejected; nothing a user can write makes
hpo-gen crash."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import (
    SearchSpace,
    categorical,
    container,
    discrete,
    double,
    experiment,
    file_collector,
    integer,
    job,
    maximize,
    minimize,
    multivariate_tpe,
    push_collector,
    random_search,
    sobol,
    stdout_collector,
    tpe,
)
from generator.importing.importer import check_round_trip, module_source
from generator.importing.yamlspecs import YamlDocument, check_documents, read_documents
from generator.katib.defaults import with_defaults
from generator.katib.models import Experiment
from generator.language.space import Tunable
from generator.validation.admission import validate_experiment
from generator.validation.context import Context
from generator.validation.schema import check_manifest

names = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
bounds = st.tuples(st.integers(-1000, 1000), st.integers(1, 1000))


@st.composite
def tunables(draw: st.DrawFn) -> Tunable:
    kind = draw(st.sampled_from(["double", "int", "categorical", "discrete"]))
    low, width = draw(bounds)
    if kind == "double":
        scale = draw(st.sampled_from([1.0, 0.01, 0.5]))
        step = draw(st.none() | st.just(width * scale / 4))
        return double(low * scale, (low + width) * scale, step=step)
    if kind == "int":
        return integer(low, low + width, step=draw(st.none() | st.integers(1, 5)))
    values = draw(st.lists(st.integers(-50, 50), min_size=1, max_size=5, unique=True))
    if kind == "discrete":
        return discrete(values)
    words = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    return categorical(draw(st.sampled_from([values, words])))


@st.composite
def experiments(draw: st.DrawFn) -> Experiment:
    params = draw(st.dictionaries(names, tunables(), min_size=1, max_size=4))
    space = SearchSpace(params)
    metric = draw(names)
    others = draw(st.lists(names.filter(lambda n: n != metric), max_size=2, unique=True))
    goal = draw(st.none() | st.floats(-10, 10, allow_nan=False).map(lambda g: round(g, 3)))
    objective = draw(st.sampled_from([maximize, minimize]))(
        metric, goal=goal, additional_metrics=others
    )
    seed = draw(st.none() | st.integers(0, 99))
    algorithm = draw(
        st.sampled_from(
            [random_search(random_state=seed), tpe(gamma=0.3), multivariate_tpe(), sobol()]
        )
    )
    max_trials = draw(st.integers(1, 40))
    collector = draw(
        st.sampled_from(
            [None, stdout_collector(), push_collector(), file_collector("/var/log/m.log")]
        )
    )
    return experiment(
        draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)),
        objective=objective,
        algorithm=algorithm,
        parameters=space,
        max_trial_count=max_trials,
        parallel_trial_count=draw(st.integers(1, max_trials)),
        max_failed_trial_count=draw(st.none() | st.integers(0, max_trials)),
        metrics_collector=collector,
        trial=job(
            container(image="trainer:1", command=["python", "-m", "t"], args=space.cli_args())
        ),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(experiments())
def test_valid_specs_render_schema_valid_and_survive_import(spec: Experiment) -> None:
    defaulted, problems = validate_experiment(spec)
    assert problems == [], problems
    assert check_manifest(defaulted.to_wire()) == []
    assert with_defaults(defaulted).to_wire() == defaulted.to_wire()
    check_round_trip(module_source(spec, "generated.yaml"), spec, "generated.py")


def _mutations(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    spec = doc["spec"]
    first = spec["parameters"][0]["name"]
    return [
        ("unknown field in spec", lambda d: d["spec"].update(maxTrials=3)),
        ("unknown field in the objective", lambda d: d["spec"]["objective"].update(goals=1)),
        ("negative max trials", lambda d: d["spec"].update(maxTrialCount=-3)),
        ("zero parallelism", lambda d: d["spec"].update(parallelTrialCount=0)),
        ("text for a count", lambda d: d["spec"].update(maxTrialCount="many")),
        ("unknown algorithm", lambda d: d["spec"]["algorithm"].update(algorithmName="annealing")),
        ("unknown objective type", lambda d: d["spec"]["objective"].update(type="maximise")),
        ("no objective", lambda d: d["spec"].pop("objective")),
        (
            "duplicate parameter",
            lambda d: d["spec"]["parameters"].append(d["spec"]["parameters"][0]),
        ),
        (
            "a parameter no trial uses",
            lambda d: d["spec"]["trialTemplate"]["trialParameters"].pop(0),
        ),
        (
            "a placeholder nobody defines",
            lambda d: d["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
                "containers"
            ][0]["args"].append("--x=${trialParameters.nobody}"),
        ),
        ("parameters as a map", lambda d: d["spec"].update(parameters={first: 1})),
        ("name with capitals", lambda d: d["metadata"].update(name="Bad-Name")),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(experiments(), st.data())
def test_invalid_mutations_are_rejected(spec: Experiment, data: st.DataObject) -> None:
    doc = spec.to_wire()
    label, mutate = data.draw(st.sampled_from(_mutations(doc)))
    mutated = copy.deepcopy(doc)
    mutate(mutated)
    problems = check_documents([YamlDocument("m.yaml", mutated, {})], Context()).problems
    assert problems, label


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(experiments(), st.data())
def test_any_field_value_is_an_error_never_a_crash(spec: Experiment, data: st.DataObject) -> None:
    doc = spec.to_wire()
    node: Any = doc
    path: list[Any] = []
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        key = data.draw(
            st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node)))
        )
        path.append(key)
        node = node[key]
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if path:
        target[path[-1]] = data.draw(json_values)
    check_documents([YamlDocument("f.yaml", doc, {})], Context())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_yaml_text_is_an_error_never_a_crash(text: str) -> None:
    documents, _ = read_documents(text, "fuzz.yaml")
    check_documents(documents, Context())


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_any_spec_tree_is_an_error_never_a_crash(tree: Any) -> None:
    doc = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "x"},
        "spec": tree,
    }
    check_documents([YamlDocument("t.yaml", doc, {})], Context())
