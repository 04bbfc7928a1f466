"""The git status sink: writes an experiment's result files (each atomically) and commits
them where the environment's results go, touching nothing else:

- "branch": files in the work tree's `status/<env>/`, committed onto the branch checked
  out (a person at a laptop sees them in their checkout);
- "status-branch": files kept in `.hpo/results/<env>/` (never in anyone's work tree),
  committed onto a branch of their own and pushed to the remote where one is set;
- "none": files in the work tree's `status/<env>/`, no commit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.errors import ControllerError
from controller.layout import Layout
from controller.ports import ResultsTarget
from controller.sinks.git.remote import Credentials, Publisher
from controller.sinks.git.repo import GitRepo
from generator.files import atomicfile
from generator.katib.status import StatusError, load_status_file
from generator.language.environments import default_status_branch


class GitStatusSink:
    def __init__(
        self,
        repo: GitRepo,
        environment: str,
        target: ResultsTarget | None = None,
        say: Callable[[str], None] = lambda line: None,
    ):
        self.repo = repo
        self.environment = environment
        self.layout = Layout(repo.root, environment)
        self.target = target or ResultsTarget()
        self._written: dict[str, set[Path]] = {}  # every result file written, by experiment
        self._written_lock = threading.Lock()  # the run loop and the committing thread
        self.publisher: Publisher | None = None
        self.files_root = repo.root
        if self.target.mode == "status-branch":
            branch = self.target.branch or default_status_branch(environment)
            self.publisher = Publisher(
                repo.root,
                f"refs/heads/{branch}",
                self.layout.status_folder.as_posix() + "/",
                remote=self.target.remote,
                credentials=Credentials.from_environment(),
                say=say,
                author=self.target.author,
            )
            self.files_root = self.layout.results_root

    def start(self) -> None:
        """Before the first experiment: a status branch takes what the remote has."""
        if self.publisher is not None:
            self.publisher.sync()

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()

    def remote_state(self) -> tuple[bool, str] | None:
        """Whether the remote has every result committed here, and what to say of it;
        None where results are not pushed."""
        publisher = self.publisher
        if publisher is None or publisher.remote is None:
            return None
        if publisher.pending:
            kept = publisher.kept or f"results on {publisher.ref} not yet pushed"
            return False, kept
        return True, f"results on {publisher.shown_remote} {publisher.ref}"

    def push_pending(self, message: str) -> bool:
        """Push what an earlier push left here; whether the remote has everything now."""
        if self.publisher is None or not self.publisher.pending:
            return True
        return self.publisher.push(message)

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
        path = self.files_root / relative
        if not path.is_file() and self.publisher is not None:
            kept = self.publisher.read(relative.as_posix())  # a fresh clone: the branch has it
            if kept is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomicfile.write_text(path, kept, sync=True)
        if not path.is_file():
            return None
        try:
            return load_status_file(path)
        except StatusError as err:
            raise corrupt_status(relative, str(err)) from err

    def write(self, experiment: str, files: dict[str, str]) -> None:
        """Write the result files (name -> text); the status YAML last, so that a crash
        never leaves a status ahead of its summary."""
        folder = self.files_root / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        status = self.relative_path(experiment).name
        for name in sorted(files, key=lambda n: n == status):
            target = self.files_root / self.layout.status_path(
                experiment, _suffix(experiment, name)
            )
            atomicfile.write_text(target, files[name], sync=True)
        with self._written_lock:
            self._written.setdefault(experiment, set()).update(self.folder / n for n in files)

    def commit(self, experiment: str, message: str) -> str | None:
        """Commit the experiment's result files where the results go, and push them where
        they go to a remote; the commit, None when nothing changed."""
        return self.commit_many([experiment], message)

    def commit_many(self, experiments: list[str], message: str, push: bool = True) -> str | None:
        """One commit of several experiments' result files (as `commit`); `push=False`
        leaves the push to `push_pending`, which a caller makes outside its own lock so
        that commits made meanwhile go out with it."""
        paths: set[Path] = set()
        with self._written_lock:
            for experiment in experiments:
                paths.update(self._written.get(experiment, ()))
        # The status is always among them: the run loop writes it, the summary separately.
        paths.update(self.relative_path(experiment) for experiment in experiments)
        if self.target.mode == "none":
            return None
        if self.publisher is None:
            return self.repo.commit_paths(sorted(paths), message, self.target.author)
        texts = {
            path.as_posix(): (self.files_root / path).read_text(encoding="utf-8")
            for path in sorted(paths)
            if (self.files_root / path).is_file()
        }
        made = self.publisher.commit(texts, message)
        if push and (made is not None or self.publisher.pending):
            self.publisher.push(message)
        return made


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
