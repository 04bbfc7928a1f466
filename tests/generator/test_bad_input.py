"""Bad specs: every problem is reported at once, with the spec file and line, the
experiment, the wire field path and a fix; hpo-gen exits 1 and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.files import yamlio
from generator.problems import Problem, ProblemReport
from generator.project.pipeline import Project
from tests.conftest import ProjectFactory, run_cli

GOOD = """\
from generator import SearchSpace, algorithm, categorical, container, double, experiment, job
from generator import maximize

space = SearchSpace(lr=double({lr}), batch_size=categorical([32, 64]))
example = experiment(
    "bad-input-example",
    objective=maximize("accuracy"),
    algorithm=algorithm("{algorithm}"),
    parameters=space,
    max_trial_count=4,
    trial=job(container(image="trainer:1", command=["python", "train.py"], args={args})),
)
"""


def spec(lr: str = "0.01, 0.05", algorithm: str = "random", args: str = "space.cli_args()") -> str:
    return GOOD.format(lr=lr, algorithm=algorithm, args=args)


def problems_of(root: Path) -> list[Problem]:
    with pytest.raises(ProblemReport) as caught:
        Project(root).rendered()
    return caught.value.problems


def assert_rejected_and_nothing_written(root: Path) -> str:
    result = run_cli("hpo-gen", "render", cwd=root)
    assert result.returncode == 1
    assert result.stdout == ""
    assert not (root / "overlays").exists()
    assert "Traceback" not in result.stderr
    return result.stderr


def test_a_valid_spec_renders(make_project: ProjectFactory) -> None:
    root = make_project({"spec/example.py": spec()})
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0


def test_min_above_max_points_at_the_builder_call(make_project: ProjectFactory) -> None:
    root = make_project({"spec/example.py": spec(lr="0.05, 0.01")})
    [problem] = problems_of(root)
    assert problem.code == "parameter-range"
    assert problem.path == ("spec", "parameters", 0, "feasibleSpace")
    assert problem.experiment == "bad-input-example"
    assert (problem.origin.file, problem.origin.line) == ("spec/example.py", 4)  # type: ignore[union-attr]
    assert problem.message == "min must be less than max, got min=0.05, max=0.01"
    assert problem.hint == "swap or widen the bounds: double(0.01, 0.05)"
    stderr = assert_rejected_and_nothing_written(root)
    assert stderr.startswith("1 problem found\nspec/example.py:4: experiment 'bad-input-example'")


def test_an_unknown_algorithm_gets_a_did_you_mean(make_project: ProjectFactory) -> None:
    root = make_project({"spec/example.py": spec(algorithm="radnom")})
    [problem] = problems_of(root)
    assert problem.code == "algorithm-name"
    assert problem.path == ("spec", "algorithm", "algorithmName")
    assert problem.hint == "did you mean 'random'?"
    assert problem.origin is not None and problem.origin.line == 8
    assert_rejected_and_nothing_written(root)


def test_a_trial_parameter_no_argument_uses_is_reported(make_project: ProjectFactory) -> None:
    root = make_project({"spec/example.py": spec(args='[f"--lr={space.lr}"]')})
    [problem] = problems_of(root)
    assert problem.code == "trial-parameter-unused"
    assert problem.path == ("spec", "trialTemplate", "trialParameters", 1, "name")
    assert problem.origin is not None and problem.origin.line == 4
    assert "${trialParameters.batch_size}" in problem.message
    assert_rejected_and_nothing_written(root)


def test_a_spec_module_that_raises_is_reported_at_the_raising_line(
    make_project: ProjectFactory,
) -> None:
    source = spec() + "\nvalue = {}['missing']\n"
    root = make_project({"spec/example.py": source})
    [problem] = problems_of(root)
    assert problem.code == "spec-module"
    assert problem.origin is not None
    assert (problem.origin.file, problem.origin.line) == ("spec/example.py", 14)
    assert problem.message == "spec module spec/example.py raised KeyError: 'missing'"
    stderr = assert_rejected_and_nothing_written(root)
    assert "spec/example.py:14:" in stderr


def test_every_problem_is_reported_at_once_and_the_old_overlays_stay(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/example.py": spec()})
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    before = {p: p.read_bytes() for p in (root / "overlays").rglob("*") if p.is_file()}
    (root / "spec/example.py").write_text(
        spec(lr="0.05, 0.01", algorithm="bayesian", args='["--epochs=1"]')
    )
    codes = sorted(p.code for p in problems_of(root))
    assert codes == [
        "algorithm-name",
        "parameter-range",
        "trial-parameter-unused",
        "trial-parameter-unused",
    ]
    result = run_cli("hpo-gen", "render", cwd=root)
    assert result.returncode == 1
    assert result.stderr.startswith("4 problems found\n")
    after = {p: p.read_bytes() for p in (root / "overlays").rglob("*") if p.is_file()}
    assert after == before


def test_the_problem_wording(make_project: ProjectFactory) -> None:
    root = make_project({"spec/example.py": spec(algorithm="radnom")})
    stderr = run_cli("hpo-gen", "render", cwd=root).stderr
    assert stderr == (
        "1 problem found\n"
        "spec/example.py:8: experiment 'bad-input-example': spec.algorithm.algorithmName: "
        "unknown algorithm 'radnom' (hpo-gen has no suggestion service for it) [algorithm-name]\n"
        "  fix: did you mean 'random'?\n"
    )


def test_json_output_lists_the_structured_problems(make_project: ProjectFactory) -> None:
    import json

    root = make_project({"spec/example.py": spec(algorithm="radnom")})
    result = run_cli("hpo-gen", "validate", "--output", "json", cwd=root)
    assert result.returncode == 1
    assert json.loads(result.stdout) == [
        {
            "code": "algorithm-name",
            "file": "spec/example.py",
            "line": 8,
            "experiment": "bad-input-example",
            "path": "spec.algorithm.algorithmName",
            "message": "unknown algorithm 'radnom' (hpo-gen has no suggestion service for it)",
            "hint": "did you mean 'random'?",
        }
    ]


RUNNING_STATUS = """\
experiment: bad-input-example
namespace: null
environment: dev
specDigest: sha256:0
status:
  startTime: '2026-01-01T00:00:00Z'
  conditions:
  - type: Created
    status: 'True'
    reason: ExperimentCreated
    message: Experiment is created
    lastUpdateTime: '2026-01-01T00:00:00Z'
    lastTransitionTime: '2026-01-01T00:00:00Z'
  - type: Running
    status: 'True'
    reason: ExperimentRunning
    message: Experiment is running
    lastUpdateTime: '2026-01-01T00:00:00Z'
    lastTransitionTime: '2026-01-01T00:00:00Z'
  trials: 4
  trialsSucceeded: 0
  trialsFailed: 0
  trialsKilled: 0
  trialsPending: 0
  trialsRunning: 4
  trialsEarlyStopped: 0
  trialMetricsUnavailable: 0
trials:
""" + "".join(
    f"- name: bad-input-example-000{i}\n  state: Running\n  reason: TrialRunning\n"
    "  parameterAssignments: []\n  metrics: []\n"
    for i in range(1, 5)
)


def test_changing_a_deployed_experiment_beyond_its_budget_is_caught(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    import shutil

    root = make_project({"spec/example.py": spec()})
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    base = tmp_path / "base"
    shutil.copytree(root, base)
    status = base / "status/dev/bad-input-example.yaml"
    status.parent.mkdir(parents=True)
    status.write_text(RUNNING_STATUS)

    (root / "spec/example.py").write_text(spec().replace("max_trial_count=4", "max_trial_count=9"))
    assert run_cli("hpo-gen", "validate", "--previous", str(base), cwd=root).returncode == 0

    (root / "spec/example.py").write_text(spec().replace("max_trial_count=4", "max_trial_count=3"))
    lowered = run_cli("hpo-gen", "validate", "--previous", str(base), cwd=root)
    assert lowered.returncode == 1
    assert "must be greater than the 4 trials the experiment has run" in lowered.stderr

    # Rendered under its spec's hash, a changed search is a new Experiment: no update.
    (root / "spec/example.py").write_text(spec(lr="0.01, 0.08"))
    assert run_cli("hpo-gen", "validate", "--previous", str(base), cwd=root).returncode == 0

    # An Experiment deployed under its own name (rendered before names carried the hash,
    # or written by hand) is updated in place, where Katib refuses the change.
    deployed = base / "overlays/base/bad-input-example/experiment.yaml"
    document = yamlio.load(deployed.read_text(), data=True)
    document["metadata"] = {"name": "bad-input-example"}
    deployed.write_text(yamlio.dump(document))
    result = run_cli("hpo-gen", "validate", "--previous", str(base), cwd=root)
    assert result.returncode == 1
    assert "can change in a deployed Experiment; this changes spec.parameters" in result.stderr
    assert "[update-forbidden]" in result.stderr
