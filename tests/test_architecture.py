"""The shape the code keeps, beyond what import-linter's contracts hold: the controller's
core does no I/O and keeps no time, the engine's functions stay short enough to read in
one pass, and importing the packages changes nothing global."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
# What the core may not import: processes, threads, files, sockets, the clock, randomness.
IMPURE = {
    "asyncio",
    "concurrent",
    "datetime",
    "io",
    "os",
    "pathlib",
    "queue",
    "random",
    "shutil",
    "signal",
    "socket",
    "subprocess",
    "tempfile",
    "threading",
    "time",
}


def modules(folder: str) -> list[Path]:
    return sorted((PROJECT / folder).rglob("*.py"))


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", modules("controller/core"), ids=lambda p: p.name)
def test_the_core_does_no_io_and_keeps_no_time(path: Path) -> None:
    assert not imported(path) & IMPURE


@pytest.mark.parametrize("path", modules("controller/engine"), ids=lambda p: p.name)
def test_no_function_of_the_engine_is_longer_than_60_lines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long


def test_importing_the_packages_changes_nothing_global() -> None:
    """optuna's log level, logging's caller lookup and the root logger stay as they were
    when every module of the three packages has been imported."""
    probe = """
import importlib, logging, pkgutil, sys
import optuna
def state():
    root = logging.getLogger()
    return (optuna.logging.get_verbosity(), logging._srcfile, root.level, len(root.handlers),
            logging.getLogger("hpo-controller").handlers)
before = state()
for package in ("generator", "controller", "trainers"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.endswith(("__main__", ".zygote", ".watchdog")):
            continue  # programs: run, never imported
        importlib.import_module(info.name)
assert state() == before, (before, state())
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
