"""Hostile input to hpo-gen: what import reads never runs, generated code holds only the
calls the generator writes, YAML that would hang or crash the reader is refused with a
located problem, names are checked before anything is written, and a fuzz run over
mutated Katib examples gives problems, never internal errors."""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import generator
from generator.checking import check_paths
from generator.files import yamlio
from generator.files.escaping import markdown_text, one_line
from generator.importing.importer import (
    check_round_trip,
    import_files,
    import_text,
    module_source,
    pycode,
)
from generator.katib.models import Experiment
from generator.problems import ProblemReport
from generator.project.loading import load_specs
from generator.rendering import render
from generator.validation.admission import validate_specs
from generator.validation.context import Context
from tests.conftest import BIN, ENVIRONMENTS, REPO_ROOT, ProjectFactory, run_cli

EXAMPLES = REPO_ROOT / "tests" / "katib" / "examples"
RANDOM = (EXAMPLES / "hp-tuning" / "random.yaml").read_text()
INJECTION = 'x"""; __import__("os").system("touch pwned"); """'
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


def hpo_gen(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "hpo-gen"), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def named(name: str, text: str = RANDOM) -> str:
    """The example renamed; a JSON string is a YAML double-quoted scalar, escapes and all."""
    return text.replace("name: random\n", f"name: {json.dumps(name)}\n", 1)


# --- generated code ------------------------------------------------------------------------


@given(ANY_TEXT)
def test_every_string_literal_reads_back_as_the_string(text: str) -> None:
    assert ast.literal_eval(pycode.string(text)) == text
    module = ast.parse(pycode.docstring(text) + "\n")
    assert ast.get_docstring(module, clean=False) == text


def calls_in(source: str) -> set[str]:
    return {
        node.func.id if isinstance(node.func, ast.Name) else ast.dump(node.func)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
    }


def imported_names(source: str) -> set[str]:
    return {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def hostile_experiment(text: str) -> Experiment:
    """The random example with `text` in every free-form string a user controls."""
    data = yamlio.load(RANDOM)
    data["metadata"]["labels"] = {"team": text}
    data["metadata"]["annotations"] = {text[:60] or "k": text}
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    container["command"] = ["python", text, "--lr=${trialParameters.learningRate}"]
    container["env"] = [{"name": "NOTE", "value": text}]
    data["spec"]["parameters"].append(
        {"name": "tag", "parameterType": "categorical", "feasibleSpace": {"list": [text, "b"]}}
    )
    return Experiment.model_validate(data)


@settings(max_examples=60, deadline=None)
@given(ANY_TEXT.filter(lambda t: t != "b"), ANY_TEXT)
def test_a_generated_module_calls_only_the_builders_it_imports(text: str, source: str) -> None:
    experiment = hostile_experiment(text)
    code = module_source(experiment, source)
    assert calls_in(code) <= imported_names(code) <= set(generator.__all__)
    check_round_trip(code, experiment, "hostile.py")  # builds it without running it


def test_the_round_trip_never_runs_what_the_module_holds(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = (
        '"""doc"""\nfrom generator import experiment\n'
        f"x = __import__('os').system('touch {marker}')\n"
    )
    with pytest.raises(AssertionError, match="holds code it does not write"):
        check_round_trip(hostile, hostile_experiment("x"), "hostile.py")
    assert not marker.exists()
    for statement in ("import os", "def f(): pass", "x = [i for i in 'a']", "x = space.lr"):
        with pytest.raises(pycode.UnsafeCode):
            pycode.evaluate(statement, {})


def test_an_injected_name_is_refused_and_nothing_runs_or_is_written(tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text(named(INJECTION))
    result = hpo_gen("import", "evil.yaml", "--out", "spec", cwd=tmp_path)
    assert result.returncode == 1
    assert "[name]" in result.stderr
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "spec").exists()


def test_a_hostile_file_name_reaches_the_module_as_text_only(tmp_path: Path) -> None:
    name = 'x"""; __import__("os").system("touch pwned"); """.yaml'
    (tmp_path / name).write_text(RANDOM)
    result = hpo_gen("import", name, "--out", "spec", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    code = (tmp_path / "spec" / "random.py").read_text()
    assert name in ast.get_docstring(ast.parse(code), clean=False)  # type: ignore[operator]
    assert "__import__" not in calls_in(code)
    (tmp_path / "spec" / "environments.py").write_text(ENVIRONMENTS)
    assert hpo_gen("validate", cwd=tmp_path).returncode == 0
    assert not (tmp_path / "pwned").exists()


def test_modules_are_written_all_or_none(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(RANDOM)
    (tmp_path / "long.yaml").write_text(named("a" * 300))
    result = hpo_gen("import", "good.yaml", "long.yaml", "--out", "spec", cwd=tmp_path)
    assert result.returncode == 1
    assert "[name-length]" in result.stderr
    assert not (tmp_path / "spec").exists()


# --- hostile YAML --------------------------------------------------------------------------


def alias_bomb() -> str:
    levels = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        levels.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    body = "\n".join("    " + line for line in levels)
    head = "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata:\n  name: bomb\n"
    return f"{head}spec:\n  x:\n{body}\n"


HOSTILE_FILES: dict[str, tuple[bytes, str, int]] = {
    # name: (content, problem code, line)
    "alias-bomb": (alias_bomb().encode(), "yaml-limit", 12),  # where it passes the bound
    "deep": (
        b"kind: Experiment\nmetadata: {name: deep}\nspec: " + b"[" * 500 + b"]" * 500 + b"\n",
        "yaml-limit",
        3,
    ),
    "latin-1": (b"kind: Experiment\nmetadata:\n  name: caf\xe9\n", "file", 3),
    "goal-nan": (RANDOM.replace("goal: 0.001", "goal: .nan").encode(), "non-finite", 0),
    "restart-nan": (
        RANDOM.replace("restartPolicy: Never", "restartPolicy: .inf").encode(),
        "non-finite",
        0,
    ),
    "max-trials-1e38": (
        RANDOM.replace("maxTrialCount: 12", "maxTrialCount: 1e38").encode(),
        "schema",
        15,
    ),
    "max-trials-int32": (
        RANDOM.replace("maxTrialCount: 12", "maxTrialCount: 3000000000").encode(),
        "schema",
        0,
    ),
    "pod": (b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "no-experiment", 1),
    "empty": (b"", "no-experiment", 1),
    "namespace": (
        RANDOM.replace("namespace: kubeflow", "namespace: ../../etc").encode(),
        "namespace",
        5,
    ),
    "name-newline": (named("good\n").encode(), "name", 0),
    "same-name": ((RANDOM + "---\n" + RANDOM).encode(), "", 0),
    "same-module": ((named("my-exp") + "---\n" + named("my--exp")).encode(), "import-clash", 0),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
@pytest.mark.parametrize("command", ["import", "validate"])
def test_hostile_yaml_is_a_located_problem(tmp_path: Path, case: str, command: str) -> None:
    content, code, line = HOSTILE_FILES[case]
    (tmp_path / "input.yaml").write_bytes(content)
    if command == "validate":
        result = hpo_gen("validate", "input.yaml", "--output", "json", cwd=tmp_path)
    else:
        result = hpo_gen("import", "input.yaml", "--out", "spec", cwd=tmp_path)
    if case == "same-module" and command == "validate":
        assert result.returncode == 0  # two names, two Kubernetes objects: fine
        return
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    assert not (tmp_path / "spec").exists()
    expected = code or ("import-clash" if command == "import" else "duplicate-experiment")
    if command == "validate":
        problems = {(p["code"], p["line"]) for p in json.loads(result.stdout)}
        assert expected in {c for c, _ in problems}
        if line:
            assert (expected, line) in problems
    else:
        assert f"[{expected}]" in result.stderr
        if line:
            assert f"input.yaml:{line}:" in result.stderr


def test_the_bounds_are_counted_without_building_anything() -> None:
    with pytest.raises(yamlio.LimitError):
        yamlio.check_limits(alias_bomb())
    yamlio.check_limits(RANDOM)  # a real Experiment is far inside them
    with pytest.raises(yamlio.LimitError, match="documents"):
        yamlio.check_limits("---\na: 1\n" * (yamlio.MAX_DOCUMENTS + 1))


SYS_EXIT = """\
import sys

sys.exit(0)
"""


def test_a_spec_module_that_exits_is_reported(make_project: ProjectFactory) -> None:
    root = make_project({"spec/exits.py": SYS_EXIT})
    for args, code in ((["validate"], 1), (["render", "--check"], 2), (["render"], 1)):
        result = run_cli("hpo-gen", *args, cwd=root)
        assert result.returncode == code, (args, result.stderr)
        assert "SystemExit" in result.stderr


# --- escaping for line formats ---------------------------------------------------------------


@given(ANY_TEXT)
def test_line_escapes_keep_one_line_and_lose_nothing(text: str) -> None:
    line = one_line(text)
    assert line.isprintable()
    assert (line == text) == text.isprintable()
    cell = markdown_text(text)
    assert cell.isprintable()
    assert re.sub(r"\\(.)", r"\1", cell) == line  # backslash escapes undone: the line
    bare = re.sub(r"\\.", "", cell)
    assert not set(bare) & set("|`*_[]<>~\\")  # nothing left that Markdown would obey


# --- fuzz: mutated Katib examples ------------------------------------------------------------


def katib_documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for document in yamlio.load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "Experiment":
                found.append(document)
    return found


DOCUMENTS = katib_documents()
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "../../etc", "my--exp", "x" * 300, "${trialParameters.lr}", "\x00"]),
)


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*at, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> str:
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(document)[1:]))
        parent = document
        for key in where[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "list", "map"]))
        if action == "delete":
            del parent[where[-1]]
        elif action == "list":
            parent[where[-1]] = [parent[where[-1]], draw(SCALARS)]
        elif action == "map":
            parent[where[-1]] = {draw(st.text(max_size=8)): parent[where[-1]]}
        else:
            parent[where[-1]] = draw(SCALARS)
    text = yamlio.dump(document)
    if draw(st.booleans()):  # and now and then the bytes themselves
        cut = draw(st.integers(0, len(text)))
        text = (
            text[:cut] + draw(st.sampled_from(["", ":", "\t", "&a", "*a", "- [", "'"])) + text[cut:]
        )
    return text


@settings(
    max_examples=int(os.environ.get("HPO_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutated())
def test_fuzzed_katib_examples_give_problems_never_internal_errors(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "input.yaml").write_text(text)
    check_paths([folder / "input.yaml"], Context())  # validate: problems are returned
    modules, _ = import_text(text, "input.yaml")  # import: problems are returned
    if not modules:
        return
    spec = folder / "spec"
    try:
        import_files([folder / "input.yaml"], spec)
    except ProblemReport:
        return
    (spec / "environments.py").write_text(ENVIRONMENTS)
    with contextlib.suppress(ProblemReport):  # render: ProblemReport at most
        render(validate_specs(load_specs(spec)))


@pytest.mark.parametrize(
    "change",
    [
        (
            "  maxFailedTrialCount: 3\n",
            "  maxFailedTrialCount: 3\n  metricsCollectorSpec:\n    source: {}\n",
        ),
        ("  namespace: kubeflow\n", "  namespace: kubeflow\n  labels: {}\n"),
        ('        min: "0.01"\n', ""),
    ],
    ids=["empty-source", "empty-labels", "no-min"],
)
def test_what_the_spec_language_cannot_spell_is_a_problem(change: tuple[str, str]) -> None:
    """Found by the fuzz run: each once an internal error of the round trip."""
    old, new = change
    assert old in RANDOM
    modules, problems = import_text(RANDOM.replace(old, new, 1), "input.yaml")
    assert not modules
    assert [p.code for p in problems] == ["import"]
    assert "fill them in" in problems[0].message or "needs both min and max" in problems[0].message


@pytest.mark.parametrize("value", ["[TFJob, null]", "{kind: Job}", "7"], ids=["list", "map", "int"])
@pytest.mark.parametrize("field", ["kind", "apiVersion"])
def test_a_trial_kind_that_is_not_a_name_is_a_problem(
    tmp_path: Path, field: str, value: str
) -> None:
    """Found by the fuzz run: a list as the trial's kind was once an internal error of the
    local-environment rule."""
    old = {"kind": "      kind: Job\n", "apiVersion": "      apiVersion: batch/v1\n"}[field]
    assert old in RANDOM
    text = RANDOM.replace(old, old.replace(old.split(": ")[1], value + "\n"), 1)
    (tmp_path / "input.yaml").write_text(text)
    problems = check_paths([tmp_path / "input.yaml"], Context()).problems
    said = [p for p in problems if p.code == "trial-template-kind"]
    assert [p.path[-1] for p in said] == [field]
    assert "must be a string" in said[0].message
    import_files([tmp_path / "input.yaml"], tmp_path / "spec")
    (tmp_path / "spec" / "environments.py").write_text(ENVIRONMENTS)
    with pytest.raises(ProblemReport) as raised:  # a local environment's rule as well
        validate_specs(load_specs(tmp_path / "spec"))
    assert "trial-template-kind" in {p.code for p in raised.value.problems}


def test_the_schema_checks_blank_only_fields_their_schemas_take_any_value_of() -> None:
    """Schema checks remember the shapes that matched, with names, trialSpecs, commands
    and arguments blanked: sound only while the schemas take any string (or object) there."""
    import json

    from generator.validation import schema

    def properties(node: Any, key: str) -> list[Any]:
        found = []
        if isinstance(node, dict):
            for name, value in (node.get("properties") or {}).items():
                found += [value] if name == key else []
            for value in node.values():
                found += properties(value, key)
        elif isinstance(node, list):
            for value in node:
                found += properties(value, key)
        return found

    root = REPO_ROOT / "generator" / "schemas"
    experiment = json.loads((root / "experiment-v1beta1.json").read_text())
    job = json.loads((root / "job-batch-v1.json").read_text())
    assert {"name", "trialSpec"} == schema._EXPERIMENT_FREE
    assert all(v == {"type": "string"} for v in properties(experiment, "name"))
    unstructured = "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.unstructured.Unstructured"
    assert all(v == {"$ref": unstructured} for v in properties(experiment, "trialSpec"))
    assert experiment["$defs"][unstructured.rsplit("/", 1)[1]] == {
        "type": "object",
        "additionalProperties": True,
    }
    assert {"args", "command"} == schema._JOB_FREE
    for key in schema._JOB_FREE:
        assert all(
            v == {"type": "array", "items": {"type": "string"}} for v in properties(job, key)
        )
