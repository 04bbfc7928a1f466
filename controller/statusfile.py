"""The git status sink: writes an experiment's status document to
`status/<env>/<name>.yaml` (atomically) and commits it, touching nothing else."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from controller.gitrepo import GitRepo
from controller.status import STATUS_FOLDER
from generator import yamlio

HEADER = "Written by `hpo-controller run`: the results of one experiment. Do not edit."


class GitStatusSink:
    def __init__(self, repo: GitRepo, environment: str):
        self.repo = repo
        self.environment = environment

    def relative_path(self, experiment: str) -> Path:
        return Path(STATUS_FOLDER) / self.environment / f"{experiment}.yaml"

    def read(self, experiment: str) -> dict[str, Any] | None:
        path = self.repo.root / self.relative_path(experiment)
        if not path.is_file():
            return None
        document = yamlio.load(path.read_text(encoding="utf-8"))
        return document if isinstance(document, dict) else None

    def write(self, experiment: str, document: dict[str, Any]) -> None:
        target = self.repo.root / self.relative_path(experiment)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(yamlio.dump(document, HEADER))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def commit(self, experiment: str, message: str) -> str | None:
        return self.repo.commit_paths([self.relative_path(experiment)], message)
