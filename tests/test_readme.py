"""The README's examples are code a user can paste: each spec example is a module that
passes this project's ruff and mypy --strict and validates, and each command's --help
shows an example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ENVIRONMENTS, REPO_ROOT, run_cli
from tests.generator.test_import import assert_lint_clean

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
SPEC_EXAMPLES = [
    block
    for block in re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    if block.startswith("from generator import")
]


def test_the_readme_has_spec_examples() -> None:
    assert SPEC_EXAMPLES


@pytest.mark.parametrize("index", range(len(SPEC_EXAMPLES)))
def test_each_spec_example_is_lint_clean_and_valid(tmp_path: Path, index: int) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "__init__.py").write_text("")
    (spec / "environments.py").write_text(ENVIRONMENTS)
    (spec / "example.py").write_text(SPEC_EXAMPLES[index])
    assert_lint_clean(tmp_path, "spec")
    result = run_cli("hpo-gen", "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("hpo-gen", "render"),
        ("hpo-gen", "validate"),
        ("hpo-gen", "import"),
        ("hpo-gen", "status"),
        ("hpo-gen", "best"),
        ("hpo-controller", "run"),
    ],
    ids=" ".join,
)
def test_each_command_s_help_shows_an_example(tmp_path: Path, command: tuple[str, str]) -> None:
    result = run_cli(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Example" in result.stdout
    assert f"$ {command[0]} {command[1]}" in result.stdout
