"""The git status sink: writes an experiment's result files to `status/<env>/` (each
atomically) and commits them, touching nothing else."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from controller.gitrepo import GitRepo
from generator import yamlio
from generator.results import STATUS_FOLDER


class GitStatusSink:
    def __init__(self, repo: GitRepo, environment: str):
        self.repo = repo
        self.environment = environment
        self._written: dict[str, list[Path]] = {}

    @property
    def folder(self) -> Path:
        return Path(STATUS_FOLDER) / self.environment

    def relative_path(self, experiment: str) -> Path:
        """The machine-readable status, the durable state of a run."""
        return self.folder / f"{experiment}.yaml"

    def read(self, experiment: str) -> dict[str, Any] | None:
        path = self.repo.root / self.relative_path(experiment)
        if not path.is_file():
            return None
        document = yamlio.load(path.read_text(encoding="utf-8"), data=True)
        return document if isinstance(document, dict) else None

    def write(self, experiment: str, files: dict[str, str]) -> None:
        """Write the result files (name -> text); the status YAML last, so that a crash
        never leaves a status ahead of its summary."""
        folder = self.repo.root / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        status = f"{experiment}.yaml"
        for name in sorted(files, key=lambda n: n == status):
            _write_atomically(folder / name, files[name])
        self._written[experiment] = [self.folder / name for name in sorted(files)]

    def commit(self, experiment: str, message: str) -> str | None:
        # The status is always among them: the run loop writes it, the summary separately.
        paths = sorted({*self._written.get(experiment, []), self.relative_path(experiment)})
        return self.repo.commit_paths(paths, message)


def _write_atomically(target: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
