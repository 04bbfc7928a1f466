"""hpo-gen render: golden overlays, determinism across processes, --check drift
detection, and kustomize building what was rendered."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from generator.files import yamlio
from generator.project.pipeline import Project
from generator.project.writing import current_tree
from tests.conftest import BIN, REPO_ROOT, ProjectFactory, run_cli

GOLDEN = Path(__file__).parent / "golden" / "overlays"


def test_rendered_overlays_match_the_golden_files(update_golden: bool) -> None:
    tree = Project(REPO_ROOT).rendered()
    if update_golden:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for name, text in tree.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(text)
    assert tree == current_tree(GOLDEN)


def test_the_committed_overlays_are_fresh() -> None:
    result = run_cli("hpo-gen", "render", "--check", cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_two_renders_in_separate_processes_are_byte_identical(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    first = make_project(copy_spec=True)
    second = tmp_path / "second"
    shutil.copytree(first, second)
    for root in (first, second):
        result = run_cli("hpo-gen", "render", cwd=root)
        assert result.returncode == 0, result.stderr
    assert current_tree(first / "overlays") == current_tree(second / "overlays")
    assert current_tree(first / "overlays") == current_tree(GOLDEN)


def test_check_writes_nothing_and_exits_1_with_a_diff_when_stale(
    make_project: ProjectFactory,
) -> None:
    root = make_project(copy_spec=True)
    missing = run_cli("hpo-gen", "render", "--check", cwd=root)
    assert missing.returncode == 1
    assert "+++ b/overlays/dev/kustomization.yaml" in missing.stdout
    assert not (root / "overlays").exists()

    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    fresh = run_cli("hpo-gen", "render", "--check", cwd=root)
    assert (fresh.returncode, fresh.stdout) == (0, "")

    experiment = root / "overlays/base/katib-random-search-mnist/experiment.yaml"
    edited = experiment.read_text().replace("maxTrialCount: 9", "maxTrialCount: 90")
    experiment.write_text(edited)
    stray = root / "overlays/dev/stray.yaml"
    stray.write_text("kind: ConfigMap\n")
    stale = run_cli("hpo-gen", "render", "--check", cwd=root)
    assert stale.returncode == 1
    assert "-  maxTrialCount: 90\n+  maxTrialCount: 9\n" in stale.stdout
    assert "--- a/overlays/dev/stray.yaml\n+++ /dev/null\n" in stale.stdout
    assert experiment.read_text() == edited and stray.exists()

    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    assert not stray.exists()
    assert run_cli("hpo-gen", "render", "--check", cwd=root).returncode == 0


@pytest.mark.parametrize("env,namespace", [("dev", "hpo-dev"), ("prod", "hpo")])
def test_kustomize_builds_each_overlay_with_its_namespace(env: str, namespace: str) -> None:
    built = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(REPO_ROOT / "overlays" / env)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = yamlio.load_all(built)
    experiments = [d for d in docs if d["kind"] == "Experiment"]
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    assert {e["metadata"]["namespace"] for e in experiments} == {namespace}
    names = sorted(e.name for e in Project(REPO_ROOT).validated_specs().experiments)
    assert sorted(e["metadata"]["name"] for e in experiments) == names
    assert namespaces[0]["metadata"] == {
        "name": namespace,
        "labels": {"katib.kubeflow.org/metrics-collector-injection": "enabled"},
    }
