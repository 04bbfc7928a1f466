"""Shared fixtures: temporary hpo-gen projects (spec/ in a real git repository) and the
`--update-golden` flag, the only way golden files are rewritten."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from controller.algorithms.base import Assignments, Suggester
from controller.core.records import ExperimentRecord
from controller.engine.loop import run_experiment
from controller.executors.local.executor import LocalExecutor
from controller.ports import TrialExecutor
from controller.sinks.git.repo import GitRepo
from controller.sinks.git.sink import GitStatusSink
from generator.katib.models import Experiment

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

ENVIRONMENTS = """\
from generator import environment

dev = environment("dev", namespace="hpo-dev", experiments="*")
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite golden files from current output"
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def run_cli(
    name: str, *args: str, cwd: Path, hash_seed: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an installed console script (hpo-gen, hpo-controller) in a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = str(hash_seed)
    return subprocess.run(
        [str(BIN / name), *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )


ProjectFactory = Callable[..., Path]


def alive(pid: int) -> bool:
    """The process runs: it exists and is not a zombie waiting for its parent (Linux)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def render_and_commit(root: Path) -> None:
    """Render the project's overlays and commit them, as a user does before a run."""
    rendered = run_cli("hpo-gen", "render", cwd=root)
    assert rendered.returncode == 0, rendered.stderr
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "render")


def this_spec_run(root: Path, *experiments: str) -> Path:
    """A git repository at `root` with a copy of this repository's spec/, rendered, and the
    given dev experiments run by hpo-controller as `make demo` runs them."""
    shutil.copytree(REPO_ROOT / "spec", root / "spec", ignore=shutil.ignore_patterns("__pycache__"))
    git(root.parent, "init", "--quiet", "--initial-branch=main", str(root))
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@localhost")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "this repository's specs")
    render_and_commit(root)
    chosen = [arg for name in experiments for arg in ("--experiment", name)]
    result = run_cli("hpo-controller", "run", "--env", "dev", *chosen, cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """A git repository with spec/ holding the given modules (name -> source) and a dev
    environment; `copy_spec=True` copies this repository's own spec/ instead."""

    def factory(modules: dict[str, str] | None = None, *, copy_spec: bool = False) -> Path:
        root = tmp_path / "project"
        spec = root / "spec"
        if copy_spec:
            shutil.copytree(REPO_ROOT / "spec", spec, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            spec.mkdir(parents=True)
            (spec / "__init__.py").write_text("")
            (spec / "environments.py").write_text(ENVIRONMENTS)
        for name, source in (modules or {}).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(textwrap.dedent(source))
        git(root.parent, "init", "--quiet", "--initial-branch=main", str(root))
        git(root, "config", "user.name", "Test")
        git(root, "config", "user.email", "test@localhost")
        git(root, "add", "--all")
        git(root, "commit", "--quiet", "-m", "initial specs")
        return root

    return factory


class ForwardingSuggester:
    """A suggester that hands every call to a real one: tests subclass it to watch or slow
    one call."""

    def __init__(self, inner: Suggester):
        self.inner = inner

    @property
    def exhausted(self) -> bool:
        return self.inner.exhausted

    def suggest(self, count: int) -> list[Assignments]:
        return self.inner.suggest(count)

    def observe(self, assignments: Assignments, value: float | None) -> None:
        self.inner.observe(assignments, value)

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        self.inner.restore(history)

    def reserve(self, assignments: Assignments) -> None:
        self.inner.reserve(assignments)


def run_in_dev(
    experiment: Experiment, root: Path, executor: TrialExecutor, **options: Any
) -> ExperimentRecord:
    """Run `experiment` as the dev environment of the repository at `root`, its status in
    git there, with `executor` (shut down after): what the CLI does, minus the CLI."""
    try:
        return run_experiment(
            experiment,
            environment="dev",
            executor=executor,
            sink=GitStatusSink(GitRepo(root), "dev"),
            hand_over=executor if isinstance(executor, LocalExecutor) else None,
            **options,
        )
    finally:
        executor.shutdown()
