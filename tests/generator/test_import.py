"""hpo-gen import: Katib YAML becomes idiomatic Python spec modules that render back to
the Katib-defaulted original, formatted as ruff formats them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from generator.files import yamlio
from generator.importing.importer import check_round_trip, module_source
from generator.katib.defaults import with_defaults
from generator.katib.models import Experiment
from generator.language.placement import based
from tests.conftest import BIN, ENVIRONMENTS, REPO_ROOT, git, run_cli
from tests.generator.test_katib_corpus import EXAMPLES, KATIB_REJECTS, name


def original(path: Path) -> Experiment:
    [document] = yamlio.load_all(path.read_text())
    return Experiment.model_validate(document)


@pytest.mark.parametrize("path", EXAMPLES, ids=name)
def test_each_example_imports_to_a_module_that_rebuilds_it(path: Path) -> None:
    source = module_source(original(path), name(path))
    check_round_trip(source, original(path), name(path))
    assert source.startswith('"""Katib Experiment ')
    assert "from generator import " in source


def test_imported_modules_are_formatted_and_lint_clean(tmp_path: Path) -> None:
    result = run_cli("hpo-gen", "import", *map(str, EXAMPLES), "--out", "spec", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    modules = sorted((tmp_path / "spec").glob("*.py"))
    assert len(modules) == 34  # 33 experiments and the package's __init__
    assert_lint_clean(tmp_path, "spec")


def assert_lint_clean(root: Path, folder: str) -> None:
    """`ruff format --check`, `ruff check` and `mypy --strict` accept the modules in
    `root/folder`, under this project's settings."""
    config = str(REPO_ROOT / "pyproject.toml")
    environment = {**os.environ, "MYPYPATH": str(REPO_ROOT)}
    for command in (
        [str(BIN / "ruff"), "format", "--check", "--config", config, folder],
        [str(BIN / "ruff"), "check", "--config", config, folder],
        [str(BIN / "mypy"), "--config-file", config, "--strict", folder],
    ):
        linted = subprocess.run(
            command, cwd=root, capture_output=True, text=True, check=False, env=environment
        )
        assert linted.returncode == 0, linted.stdout + linted.stderr


def test_an_imported_experiment_never_takes_a_builder_s_name(tmp_path: Path) -> None:
    tpe = next(p for p in EXAMPLES if name(p) == "hp-tuning/tpe.yaml")
    result = run_cli("hpo-gen", "import", str(tpe), "--out", "spec", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    source = (tmp_path / "spec/tpe.py").read_text()
    assert "\ntpe_experiment = experiment(" in source and "\ntpe = " not in source


def test_an_imported_namespace_that_environments_replace_is_said(tmp_path: Path) -> None:
    random = next(p for p in EXAMPLES if name(p) == "hp-tuning/random.yaml")
    result = run_cli("hpo-gen", "import", str(random), "--out", "spec", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: random: its namespace 'kubeflow' is kept in the module" in result.stderr
    assert "environment's own namespace" in result.stderr


def test_import_then_render_reproduces_the_katib_defaulted_originals(tmp_path: Path) -> None:
    root = tmp_path
    valid = [p for p in EXAMPLES if name(p) not in KATIB_REJECTS]
    result = run_cli("hpo-gen", "import", *map(str, valid), cwd=root)
    assert result.returncode == 0, result.stderr
    # Katib's examples include trials that need a cluster (TFJob, MPIJob, Argo, Tekton).
    (root / "spec" / "environments.py").write_text(
        ENVIRONMENTS.replace('namespace="hpo-dev"', 'namespace="hpo-dev", executor="katib"')
    )
    rendered = run_cli("hpo-gen", "render", cwd=root)
    assert rendered.returncode == 0, rendered.stderr
    for path in valid:
        defaulted = with_defaults(original(path))
        expected = based(defaulted).to_wire()  # named by the hash of its spec, labelled
        text = (root / "overlays/base" / defaulted.name / "experiment.yaml").read_text()
        assert yamlio.load_all(text) == [expected], name(path)


def test_import_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    random = next(p for p in EXAMPLES if name(p) == "hp-tuning/random.yaml")
    assert run_cli("hpo-gen", "import", str(random), cwd=tmp_path).returncode == 0
    module = tmp_path / "spec" / "random.py"
    module.write_text("# edited by hand\n")
    again = run_cli("hpo-gen", "import", str(random), cwd=tmp_path)
    assert again.returncode == 1
    assert "spec/random.py already exists [import-exists]" in again.stderr
    assert module.read_text() == "# edited by hand\n"
    assert run_cli("hpo-gen", "import", str(random), "--force", cwd=tmp_path).returncode == 0
    assert module.read_text().startswith('"""Katib Experiment random')


def test_invalid_yaml_is_reported_at_its_line_and_nothing_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (
        KATIB_EXAMPLE := next(p for p in EXAMPLES if name(p) == "hp-tuning/random.yaml")
    ).read_text()
    bad.write_text(text.replace("maxTrialCount: 12", "maxTrialCount: twelve"))
    result = run_cli("hpo-gen", "import", str(bad), KATIB_EXAMPLE.as_posix(), cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.yaml:15: experiment 'random': spec.maxTrialCount:" in result.stderr
    assert not (tmp_path / "spec").exists()


def test_a_python_project_can_adopt_imported_specs(make_project) -> None:  # type: ignore[no-untyped-def]
    root = make_project()
    random = next(p for p in EXAMPLES if name(p) == "hp-tuning/random.yaml")
    assert run_cli("hpo-gen", "import", str(random), cwd=root).returncode == 0
    assert run_cli("hpo-gen", "validate", cwd=root).returncode == 0
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    git(root, "add", "--all")
    assert "spec/random.py" in git(root, "status", "--porcelain")
