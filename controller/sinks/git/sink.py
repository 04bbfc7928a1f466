"""The git status sink: writes an experiment's result files to `status/<env>/` (each
atomically) and commits them, touching nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.errors import ControllerError
from controller.layout import Layout
from controller.sinks.git.repo import GitRepo
from generator.files import atomicfile
from generator.katib.status import StatusError, load_status_file


class GitStatusSink:
    def __init__(self, repo: GitRepo, environment: str):
        self.repo = repo
        self.environment = environment
        self.layout = Layout(repo.root, environment)
        self._written: dict[str, list[Path]] = {}

    @property
    def root(self) -> Path:
        return self.repo.root

    @property
    def folder(self) -> Path:
        return self.layout.status_folder

    def relative_path(self, experiment: str) -> Path:
        """The machine-readable status, the durable state of a run."""
        return self.layout.status_path(experiment)

    def read(self, experiment: str) -> dict[str, Any] | None:
        """The status document of the last run, None when there is none; ControllerError
        when the file is there but is not a status document (cut short, holding a merge's
        conflict markers, of another shape): nothing is run over it."""
        relative = self.relative_path(experiment)
        path = self.repo.root / relative
        if not path.is_file():
            return None
        try:
            return load_status_file(path)
        except StatusError as err:
            raise corrupt_status(relative, str(err)) from err

    def write(self, experiment: str, files: dict[str, str]) -> None:
        """Write the result files (name -> text); the status YAML last, so that a crash
        never leaves a status ahead of its summary."""
        folder = self.repo.root / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        status = self.relative_path(experiment).name
        for name in sorted(files, key=lambda n: n == status):
            target = self.repo.root / self.layout.status_path(experiment, _suffix(experiment, name))
            atomicfile.write_text(target, files[name], sync=True)
        self._written[experiment] = [self.folder / name for name in sorted(files)]

    def commit(self, experiment: str, message: str) -> str | None:
        # The status is always among them: the run loop writes it, the summary separately.
        paths = sorted({*self._written.get(experiment, []), self.relative_path(experiment)})
        return self.repo.commit_paths(paths, message)


def _suffix(experiment: str, name: str) -> str:
    """What follows the experiment's name in one of its result files' names."""
    if not name.startswith(experiment) or "/" in name:
        raise ValueError(f"{name!r} is not a result file of {experiment!r}")
    return name[len(experiment) :]


def corrupt_status(path: Path, reason: str) -> ControllerError:
    return ControllerError(
        f"{path} is not a status file hpo-controller can resume from ({reason}); nothing was "
        f"run or overwritten. Restore it with `git checkout -- {path}` (or resolve the "
        "merge), or start the experiment over with `--rerun`"
    )
