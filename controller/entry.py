"""The `hpo-controller` command's entry point: says what to install when the controller's
extra is missing (`pip install hpo-gen` alone validates and renders), before anything
needs it."""

from __future__ import annotations

import importlib.util
import sys

NEEDED = ("optuna", "cmaes", "scipy", "numpy", "rich")


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def main() -> None:
    missing = [name for name in NEEDED if not installed(name)]
    if missing:
        sys.stderr.write(
            f"hpo-controller: {', '.join(missing)} not installed: the controller needs the "
            "'controller' extra: pip install 'hpo-gen[controller]'\n"
        )
        sys.exit(1)
    from controller.cli import main as run

    run()
