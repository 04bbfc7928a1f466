"""The pull-request flow users get: a GitHub Actions workflow and pre-commit hooks that run
`hpo-gen validate`, `render --check` and `diff`, all with hpo-gen installed alone (no
torch, scikit-learn or optuna); and the controller's image as its Dockerfile says."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from generator.files import yamlio
from generator.project.pipeline import Project
from generator.rendering.cluster import controller_layer
from tests.conftest import REPO_ROOT

HEAVY = ("torch", "sklearn", "optuna", "numpy", "scipy", "rich", "kubernetes", "cmaes")

BLOCKER = f"""
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed)", name=name)
        return None
sys.meta_path.insert(0, Refuse())
"""


def without_heavy(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A command run where none of the heavy packages can be imported."""
    code = (
        BLOCKER
        + f"sys.argv = {[program, *args]!r}\n"
        + {
            "hpo-gen": "from generator.cli import main\nmain()\n",
            "hpo-controller": "from controller.entry import main\nmain()\n",
        }[program]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("command", [("validate",), ("render", "--check")])
def test_hpo_gen_validates_and_renders_without_the_heavy_packages(command: tuple[str, ...]) -> None:
    result = without_heavy("hpo-gen", *command)
    assert result.returncode == 0, result.stderr


def test_the_core_install_holds_none_of_them() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("[")[0] for d in project["dependencies"]}
    assert not names & {"torch", "scikit-learn", "optuna", "numpy", "scipy", "rich"}
    extras = project["optional-dependencies"]
    assert "optuna>=4.0" in extras["controller"] and "torch==2.13.0" in extras["trainers"]
    assert extras["nas"] == ["torch==2.13.0"]  # enas's policy: not in the controller extra
    assert "hpo-gen[controller,nas,trainers,dashboard]" in extras["dev"]


def test_hpo_gen_dashboard_without_its_extra_says_what_to_install() -> None:
    result = without_heavy("hpo-gen", "dashboard", "--port", "0")
    assert result.returncode == 1
    assert "the dashboard needs optuna" in result.stderr
    assert "pip install 'hpo-gen[dashboard]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_hpo_controller_without_its_extra_says_what_to_install() -> None:
    result = without_heavy("hpo-controller", "--help")
    assert result.returncode == 1
    assert "pip install 'hpo-gen[controller]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_workflow_runs_the_checks_with_hpo_gen_alone() -> None:
    workflow = yamlio.load((REPO_ROOT / ".github/workflows/hpo-gen.yml").read_text(), data=True)
    steps = workflow["jobs"]["check"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert "pip install ." in runs  # no extras
    assert "hpo-gen validate" in runs and "hpo-gen render --check" in runs
    assert any(r.startswith('hpo-gen diff --base "$BASE"') for r in runs)
    assert steps[0]["with"]["fetch-depth"] == 0


def test_the_pre_commit_hooks_call_real_commands() -> None:
    hooks = yamlio.load_all((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(), data=True)[0]
    assert {h["id"] for h in hooks} >= {"hpo-gen-validate", "hpo-gen-render-check"}
    for hook in hooks:
        program, *args = hook["entry"].split()
        assert program == "hpo-gen" and hook["language"] == "python"
        assert not hook["pass_filenames"]
        result = without_heavy("hpo-gen", *args, "--help")
        assert result.returncode == 0, result.stderr


def test_the_controller_image_matches_its_deployment() -> None:
    dockerfile = (REPO_ROOT / "controller/Dockerfile").read_text()
    assert "pip install --no-cache-dir '.[controller,nas]'" in dockerfile
    assert "apt-get install --yes --no-install-recommends git" in dockerfile  # it pushes
    assert 'ENTRYPOINT ["hpo-controller"]' in dockerfile
    for package in ("generator", "controller"):
        assert f"COPY {package} ./{package}" in dockerfile
    gitops = Project(REPO_ROOT).validated_specs().gitops
    assert gitops is not None
    deployment = yamlio.load(controller_layer(gitops)["controller/deployment.yaml"], data=True)
    uid = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert f"useradd --create-home --uid {uid} hpo" in dockerfile
    assert f"USER {uid}:{uid}" in dockerfile
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][0] == "serve"
