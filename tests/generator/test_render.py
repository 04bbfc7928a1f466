"""hpo-gen render: golden overlays, determinism across processes, --check drift
detection, and kustomize building what was rendered."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.files.kustomize import build
from generator.katib.identity import NAME_LABEL
from generator.language.placement import chosen, placed
from generator.project.pipeline import Project
from generator.project.writing import current_tree
from tests.conftest import REPO_ROOT, ProjectFactory, run_cli

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
    for seed, root in enumerate((first, second)):
        result = run_cli("hpo-gen", "render", cwd=root, hash_seed=seed + 1)
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


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_kustomize_builds_each_environment_as_the_spec_says_it_runs(env: str) -> None:
    """kustomize's patches and transformers over base/ give exactly the Experiments
    `placed` computes: budgets, images inside the trialSpec, resources, labels, names."""
    specs = Project(REPO_ROOT).validated_specs()
    environment = next(e for e in specs.environments if e.name == env)
    docs = build(REPO_ROOT / "overlays" / env)
    built = sorted(
        (d for d in docs if d["kind"] == "Experiment"), key=lambda d: d["metadata"]["name"]
    )
    expected = sorted(
        (placed(environment, e).to_wire() for e in chosen(environment, specs.experiments)),
        key=lambda d: d["metadata"]["name"],
    )
    assert built == expected
    namespace = next(d for d in docs if d["kind"] == "Namespace")
    assert namespace["metadata"] == {
        "name": environment.namespace,
        "labels": {"katib.kubeflow.org/metrics-collector-injection": "enabled"}
        | environment.labels,
    }


def test_dev_and_prod_differ_in_budget_and_image_tag() -> None:
    dev, prod = (
        [d for d in build(REPO_ROOT / "overlays" / env) if d["kind"] == "Experiment"]
        for env in ("dev", "prod")
    )

    def by_name(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {d["metadata"]["labels"][NAME_LABEL]: d for d in docs}

    dev_named, prod_named = by_name(dev), by_name(prod)
    shared = sorted(set(dev_named) & set(prod_named))
    assert shared and set(prod_named) < set(dev_named)  # prod takes only what it names
    for name in shared:
        a, b = dev_named[name]["spec"], prod_named[name]["spec"]
        assert a["maxFailedTrialCount"] != b["maxFailedTrialCount"]
        images = [
            c["image"]
            for s in (a, b)
            for c in s["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"]
        ]
        assert images == ["hpo-gen-trainers:dev", "ghcr.io/hpo-gen/trainers:0.1.0"]
        assert dev_named[name]["metadata"]["name"] != prod_named[name]["metadata"]["name"]


def test_check_exits_2_when_the_specs_do_not_render(make_project: ProjectFactory) -> None:
    root = make_project(copy_spec=True)
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    before = current_tree(root / "overlays")
    (root / "spec/broken.py").write_text("from generator import environment\nx = environment(\n")
    result = run_cli("hpo-gen", "render", "--check", cwd=root)
    assert result.returncode == 2
    assert "spec/broken.py:2" in result.stderr and "does not render" in result.stderr
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 1  # render itself: bad input
    assert current_tree(root / "overlays") == before


def test_every_generated_file_names_the_command_that_made_it() -> None:
    for name, text in Project(REPO_ROOT).rendered().items():
        assert text.startswith("# Generated by `hpo-gen render` from "), name


def test_a_write_that_fails_part_way_leaves_the_old_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.project import writing

    out = tmp_path / "overlays"
    old = {"dev/kustomization.yaml": "old\n", "base/a/experiment.yaml": "a\n"}
    assert writing.write_tree(out, old)
    real_open = open
    opened: list[str] = []

    def failing_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        if len(opened) == 3:
            raise OSError(28, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    new = {f"base/e{i}/experiment.yaml": f"{i}\n" for i in range(5)}
    with pytest.raises(OSError, match="No space left"):
        writing.write_tree(out, new)
    monkeypatch.undo()
    assert current_tree(out) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlays"]  # no staging left
