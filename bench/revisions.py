"""Another revision of this repository, for the benches that compare two versions of the
code in one run (`--against REV`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def exported(revision: str, folder: Path) -> Path:
    """The tree of `revision` of this repository, written to `folder` (made if absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(PROJECT), "archive", "--format=tar", revision],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder
