"""The best parameters into the next pipeline step: hpo-gen's Kubeflow Pipelines component
and the example pipeline (pipelines/tune_then_train.py), run with kfp's local runner
(`kfp.local`, subprocess runner) from .venv-kfp (`make test` builds it: kfp pins an older
Kubernetes client than the controller's); and the repository reader beneath it, waiting
for an experiment to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from generator.best_step import best_from_repository, shown_address
from generator.files import yamlio
from generator.problems import ProblemReport
from tests.conftest import REPO_ROOT, git, run_cli, this_spec_run

KFP_PYTHON = REPO_ROOT / ".venv-kfp" / "bin" / "python"
EXPERIMENT = "katib-random-search-mnist"


def kfp_python() -> Path:
    assert KFP_PYTHON.is_file(), "no .venv-kfp: `make test` builds it (kfp, hpo-gen, trainers)"
    return KFP_PYTHON


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with this repository's specs and the results of one demo experiment."""
    return this_spec_run(tmp_path_factory.mktemp("tuned") / "project", EXPERIMENT)


def test_the_pipeline_trains_the_final_model_with_the_best_parameters(
    results: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            str(kfp_python()),
            str(REPO_ROOT / "pipelines" / "tune_then_train.py"),
            "--local",
            "--repository",
            results.as_uri(),
            "--epochs",
            "2",
            "--pipeline-root",
            str(tmp_path / "outputs"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    said = done.stdout + done.stderr
    expected = json.loads(run_cli("hpo-gen", "best", EXPERIMENT, cwd=results).stdout)
    # the component's outputs, as kfp.local reports them, are `hpo-gen best`'s
    arguments = [f"--{n.replace('_', '-')}={v}" for n, v in expected["parameters"].items()]
    assert f"arguments: {arguments}" in said.replace('"', "'")
    assert f"objective: {expected['objective']['value']}" in said
    assert f"trial: '{expected['trial']}'" in said
    # the training step ran with them and reported its accuracy
    for argument in arguments:
        assert argument in said
    accuracy = float(said.split("final model accuracy: ")[1].split()[0])
    assert 0.5 < accuracy <= 1.0
    assert list((tmp_path / "outputs").rglob("model/*"))  # the model kept as an artifact


def test_the_component_installs_hpo_gen_alone(tmp_path: Path) -> None:
    target = tmp_path / "pipeline.yaml"
    done = subprocess.run(
        [str(kfp_python()), str(REPO_ROOT / "pipelines/tune_then_train.py"), "--compile", target],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    executors = yamlio.load(target.read_text())["deploymentSpec"]["executors"]
    best = executors["exec-best-hyperparameters"]["container"]
    installs = " ".join(best["command"])
    assert best["image"] == "python:3.11"
    assert "'hpo-gen==0.1.0'" in installs
    for heavy in ("torch", "optuna", "scikit-learn", "[controller", "[trainers"):
        assert heavy not in installs
    train = executors["exec-train-final-model"]["container"]
    assert train["image"] == "hpo-gen-trainers:0.1.0"


def commit_status(root: Path, document: dict[str, object]) -> None:
    path = root / "status" / "dev" / f"{EXPERIMENT}.yaml"
    path.write_text(yamlio.dump(document))
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "results")


def test_waiting_returns_once_the_experiment_has_ended(results: Path, tmp_path: Path) -> None:
    """A copy of the results with the experiment still running: the reader fetches again
    until a commit says it ended."""
    finished = yamlio.load((results / "status/dev" / f"{EXPERIMENT}.yaml").read_text())
    running = json.loads(json.dumps(finished))
    running["status"]["conditions"] = running["status"]["conditions"][:1]
    running["status"].pop("completionTime", None)
    root = tmp_path / "copy"
    shutil.copytree(results, root, ignore=shutil.ignore_patterns(".hpo"))
    commit_status(root, running)
    early = best_from_repository(str(root), EXPERIMENT, "dev")
    assert early.state == "Running"  # not waited for: the best so far
    timer = threading.Timer(1.0, commit_status, (root, finished))
    timer.start()
    began = time.monotonic()
    try:
        found = best_from_repository(
            str(root), EXPERIMENT, "dev", wait_seconds=60, poll_seconds=0.2
        )
    finally:
        timer.join()
    assert found.state == "Succeeded" and time.monotonic() - began >= 1.0
    optimal = finished["status"]["currentOptimalTrial"]
    assert found.parameters == {a["name"]: a["value"] for a in optimal["parameterAssignments"]}
    assert found.arguments[0].startswith("--")
    commit_status(root, running)
    with pytest.raises(ProblemReport, match=r"still running after 0\.5 s"):
        best_from_repository(str(root), EXPERIMENT, "dev", wait_seconds=0.5, poll_seconds=0.1)


def test_a_repository_that_cannot_be_fetched_is_named_without_its_credentials() -> None:
    address = "http://someone:s3cret-token@127.0.0.1:9/team/repo.git"
    assert shown_address(address) == "http://127.0.0.1:9/team/repo.git"
    with pytest.raises(ProblemReport) as caught:
        best_from_repository(address, EXPERIMENT, revision="hpo-status/prod")
    text = str(caught.value)
    assert "cannot fetch hpo-status/prod of http://127.0.0.1:9/team/repo.git" in text
    assert "s3cret-token" not in text and "someone" not in text
