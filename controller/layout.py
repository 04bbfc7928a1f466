"""Where the controller reads and writes in a repository: `overlays/<env>/` (read),
`status/<env>/` (the results it commits) and `.hpo/` (its own, never committed: trial
logs, pbt's volumes, the trial journal, the run lock). Every path it writes is built
here, from names checked first, and lies under one of those two folders by construction."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from controller.errors import ControllerError
from generator.katib.repository import (
    OVERLAYS_FOLDER,
    STATUS_FOLDER,
    WORK_FOLDER,
    declared_environments,
)

# An environment or experiment name as it may appear in a path: a DNS-1123 label, which
# hpo-gen's validation requires of both (no '/', no '..', nothing hidden).
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _checked(name: str, what: str) -> str:
    if not _NAME.fullmatch(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise ControllerError(
            f"{what} {shown!r} is not a valid name: names are DNS-1123 labels of at most 63 "
            "characters (lower-case letters, digits and '-')"
        )
    return name


@dataclass(frozen=True)
class Layout:
    """The paths of one environment of the repository at `root`."""

    root: Path
    environment: str

    @classmethod
    def of(cls, root: Path, environment: str) -> Layout:
        """The layout of a declared environment; ControllerError for any other name."""
        _checked(environment, "environment")
        declared = declared_environments(root)
        if environment not in declared:
            known = ", ".join(declared) if declared else "none"
            close = difflib.get_close_matches(environment, declared, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ControllerError(
                f"no environment {environment!r} in {OVERLAYS_FOLDER}/ (rendered environments: "
                f"{known}); {hint}declare it in spec/environments.py and run `hpo-gen render`"
            )
        return cls(root, environment)

    @property
    def overlay(self) -> Path:
        return self.root / OVERLAYS_FOLDER / self.environment

    @property
    def status_folder(self) -> Path:
        """status/<env>, relative to the root (as git names it)."""
        return Path(STATUS_FOLDER) / self.environment

    def status_path(self, experiment: str, suffix: str = ".yaml") -> Path:
        """A result file of an experiment, relative to the root."""
        return self.status_folder / (_checked(experiment, "experiment") + suffix)

    def _work(self, kind: str, *names: str) -> Path:
        path = self.root / WORK_FOLDER / kind / self.environment
        for name in names:
            path = path / _checked(name, "experiment")
        return path

    @property
    def results_root(self) -> Path:
        """Where the results of an environment whose results go to a status branch are
        kept as files (`status/<env>/...` below it): out of the work tree people use."""
        return self._work("results")

    def logs(self, experiment: str) -> Path:
        """The folder of an experiment's trial logs."""
        return self._work("logs", experiment)

    @property
    def zygote_log(self) -> Path:
        return self._work("logs") / "zygote.log"

    def volume(self, experiment: str) -> Path:
        """pbt's checkpoint folders of an experiment (Katib's FromVolume claim)."""
        return self._work("volumes", experiment)

    def journal(self, experiment: str) -> Path:
        """The append-only journal of an experiment's ended trials."""
        return self._work("journal") / (_checked(experiment, "experiment") + ".jsonl")

    @property
    def lock(self) -> Path:
        """The file the running controller of this environment holds locked."""
        return self._work("locks").with_suffix(".lock")

    def prepare(self) -> None:
        """Make `.hpo/`, which ignores itself so its files never show up in `git status`."""
        work = self.root / WORK_FOLDER
        work.mkdir(exist_ok=True)
        ignore = work / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# hpo-controller's trial logs and volumes: never committed\n*\n")
        for folder in (self._work("logs"), self._work("journal"), self.lock.parent):
            folder.mkdir(parents=True, exist_ok=True)
