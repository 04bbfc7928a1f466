"""What a user is told: every problem of every module and document in one run, each at
its own place and with a fix in the language it was written in; usage mistakes said as
what is needed (exit 1), "internal error" kept for bugs; status and best say where they
stand."""

from __future__ import annotations

from pathlib import Path

from controller.core.records import Completion, ExperimentRecord, TrialRecord, TrialState
from controller.core.results import status_file
from generator.files import yamlio
from generator.project.pipeline import Project
from tests.conftest import ProjectFactory, run_cli
from tests.generator.test_bad_input import spec

SYNTAX_ERROR = "from generator import experiment\nvalue = (\n"
UNKNOWN_ARGUMENT = """\
from generator import tpe
algorithm = tpe(n_ei_candidate=24)
"""
YAML = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: yaml-example, namespace: ns}
spec:
  maxTrialCount: twelve
  maxFailedTrialCount: 20
  objective: {type: maximize, objectiveMetricName: accuracy}
  algorithm: {algorithmName: randm}
  parameters:
    - {name: lr, parameterType: double, feasibleSpace: {min: "0.9", max: "0.1"}}
  trialTemplate:
    primaryContainerName: training
    trialParameters: [{name: lr, reference: lr}]
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: training
                image: "t:1"
                command: ["python", "x.py", "--lr=${trialParameters.lr}"]
"""


def test_every_module_s_problems_come_in_one_run(make_project: ProjectFactory) -> None:
    """A module that does not parse, one that raises and one with rule problems: all three
    reported, the syntax error at its own line and column."""
    root = make_project(
        {
            "spec/a_bad_ranges.py": spec(lr="0.05, 0.01", algorithm="radnom"),
            "spec/b_syntax.py": SYNTAX_ERROR,
            "spec/c_argument.py": UNKNOWN_ARGUMENT,
        }
    )
    result = run_cli("hpo-gen", "validate", cwd=root)
    assert result.returncode == 1
    err = result.stderr
    assert "4 problems found" in err
    assert "spec/a_bad_ranges.py:4: experiment 'bad-input-example'" in err  # min > max
    assert "unknown algorithm 'radnom'" in err
    assert "spec/b_syntax.py:2:9: spec module spec/b_syntax.py is not valid Python" in err
    assert "correct the Python syntax at this line and column" in err
    assert "spec/c_argument.py:2:" in err
    assert "did you mean 'n_ei_candidates'? tpe() takes" in err
    assert "line above" not in err and ":0:" not in err


def test_validating_one_file_checks_that_file_and_what_it_imports(
    make_project: ProjectFactory,
) -> None:
    root = make_project(
        {
            "spec/good.py": "from spec.shared import example\n",
            "spec/shared.py": spec(lr="0.05, 0.01"),
            "spec/broken.py": SYNTAX_ERROR,
        }
    )
    result = run_cli("hpo-gen", "validate", "spec/good.py", cwd=root)
    assert result.returncode == 1
    assert "min must be less than max" in result.stderr  # in the module it imports
    assert "broken.py" not in result.stderr  # another module of the folder: not asked for
    assert "1 problem found" in result.stderr


def test_a_schema_problem_hides_no_rule_problem_and_yaml_gets_yaml_fixes(
    tmp_path: Path,
) -> None:
    (tmp_path / "experiment.yaml").write_text(YAML)
    result = run_cli("hpo-gen", "validate", "experiment.yaml", cwd=tmp_path)
    assert result.returncode == 1
    err = result.stderr
    assert "'twelve' is not of type 'integer'" in err
    assert "unknown algorithm 'randm'" in err and "did you mean 'random'?" in err
    assert 'swap or widen the bounds: min: "0.1", max: "0.9"' in err  # YAML, not double()
    assert "double(" not in err
    # maxTrialCount left out, maxFailedTrialCount 20 breaks no rule: no second report
    assert "3 problems found" in err


def test_the_same_rule_gives_a_python_spec_a_python_fix(make_project: ProjectFactory) -> None:
    bad = spec(lr="0.05, 0.01").replace(
        "max_trial_count=4", "max_trial_count=4,\n    max_failed_trial_count=9"
    )
    root = make_project({"spec/example.py": bad})
    err = run_cli("hpo-gen", "validate", cwd=root).stderr
    assert "swap or widen the bounds: double(0.01, 0.05)" in err
    assert "lower max_failed_trial_count or raise max_trial_count" in err
    (root / "example.yaml").write_text(
        yamlio.dump(
            yamlio.load(YAML)
            | {"spec": yamlio.load(YAML)["spec"] | {"maxTrialCount": 4, "maxFailedTrialCount": 9}}
        )
    )
    err = run_cli("hpo-gen", "validate", "example.yaml", cwd=root).stderr
    assert "lower spec.maxFailedTrialCount or raise spec.maxTrialCount" in err


def test_a_spec_module_outside_a_package_is_a_usage_problem(tmp_path: Path) -> None:
    (tmp_path / "loose.py").write_text(spec())
    result = run_cli("hpo-gen", "validate", "loose.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "internal error" not in result.stderr
    assert "loose.py is not in a spec package" in result.stderr
    assert "__init__.py" in result.stderr and "--project" in result.stderr
    (tmp_path / "notes.txt").write_text("hello")
    result = run_cli("hpo-gen", "validate", "notes.txt", cwd=tmp_path)
    assert result.returncode == 1
    assert "give a .py spec module, a .yaml or .yml Katib file" in result.stderr


def test_status_says_where_results_are_and_refuses_an_unknown_environment(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/example.py": spec()})
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    result = run_cli("hpo-gen", "status", cwd=root)
    assert result.returncode == 0
    assert "no results in status/ yet (environment dev): run `hpo-controller run --env dev`" in (
        result.stderr
    )
    unknown = run_cli("hpo-gen", "status", "--env", "deb", cwd=root)
    assert unknown.returncode == 1
    assert "no environment named 'deb'" in unknown.stderr and "did you mean 'dev'?" in (
        unknown.stderr
    )
    (root / ".demo/repo/status/dev").mkdir(parents=True)
    shown = run_cli("hpo-gen", "status", cwd=root).stderr
    assert "hpo-gen status --project .demo/repo" in shown


def failed_run(root: Path) -> None:
    """status/dev/ of the project's experiment as the controller writes it when three
    trials failed and maxFailedTrialCount ended it."""
    experiment = Project(root).validated_specs().experiments[0]
    trials = [
        TrialRecord(f"{experiment.name}-{i:04d}", (("lr", "0.02"),), TrialState.FAILED)
        for i in (1, 2, 3)
    ]
    record = ExperimentRecord(experiment.name, "hpo-dev", trials, "2026-01-01T00:00:00Z")
    record.completion = Completion(
        "Failed", "ExperimentFailed", "Experiment has failed because max failed count has reached"
    )
    record.completion_time = "2026-01-01T00:01:00Z"
    (root / "status/dev").mkdir(parents=True)
    for name, text in status_file(experiment, record, "dev").items():
        (root / "status/dev" / name).write_text(text)


def test_best_of_a_failed_experiment_says_it_failed_and_why(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/example.py": spec()})
    failed_run(root)
    result = run_cli("hpo-gen", "best", "bad-input-example", cwd=root)
    assert result.returncode == 1
    assert (
        "'bad-input-example' failed (ExperimentFailed: Experiment has failed because max "
        "failed count has reached) with no successful trial (3 trials, 3 failed)"
    ) in result.stderr.replace("\n", " ")
    assert "status/dev/bad-input-example.md" in result.stderr and "--rerun" in result.stderr
    assert "wait for a trial" not in result.stderr


LOOP = """\
from generator import SearchSpace, container, double, experiment, job, maximize, random_search


def build(index, parallel):
    space = SearchSpace(lr=double(0.01, 0.1))
    return experiment(
        f"loop-{index}",
        objective=maximize("accuracy"),
        algorithm=random_search(),
        parameters=space,
        max_trial_count=4,
        parallel_trial_count=parallel,
        trial=job(container(image="t:1", command=["python", "t.py"], args=space.cli_args())),
    )


experiments = [build(i, 9 if i == 1 else 2) for i in range(3)]
"""


def test_experiments_built_in_a_loop_are_found_and_named_in_their_problems(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/loop.py": LOOP})
    result = run_cli("hpo-gen", "validate", cwd=root)
    assert result.returncode == 1
    [line] = [text for text in result.stderr.splitlines() if "parallelTrialCount" in text]
    assert line.startswith("spec/loop.py:6: experiment 'loop-1': spec.parallelTrialCount")
    assert "loop-0" not in result.stderr and "loop-2" not in result.stderr
    fixed = LOOP.replace("9 if i == 1 else 2", "2")
    (root / "spec/loop.py").write_text(fixed)
    rendered = run_cli("hpo-gen", "render", cwd=root)
    assert rendered.returncode == 0, rendered.stderr
    assert "3 experiments: loop-0, loop-1, loop-2" in rendered.stderr
