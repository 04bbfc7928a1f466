"""Git, through the git command line: the only module that runs git.

Status commits never go through the user's index: the tree is built in a private index
(`GIT_INDEX_FILE`) from HEAD plus the status files, committed with `commit-tree`, and the
branch moved with a compare-and-swap `update-ref`, so a failure or a kill at any step
leaves nothing staged, and a commit the user makes meanwhile is never lost (the swap
fails and the commit is made again on top of it). Afterwards the user's index entries of
exactly those paths are set to the new commit's, so `git status` shows them clean. A
busy lock (an editor running `git status`, another controller's commit) is waited out
with backoff; a repository that cannot take a commit (a merge or rebase in progress, a
detached HEAD, no identity) is refused before the first trial."""

from __future__ import annotations

import functools
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from controller.errors import ControllerError, TemporaryError

# How long a busy lock is waited out, and the backoff between tries.
LOCK_PATIENCE = 60.0
FIRST_BACKOFF, MAX_BACKOFF = 0.01, 1.0
# Operations in progress that a commit of the controller's would get in the way of.
_IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or `git am`",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
    "BISECT_LOG": "a bisect",
}
_BUSY = (".lock': File exists", "cannot lock ref")


def identity(author: str | None) -> dict[str, str]:
    """The variables that make git write `author` ("Name <email>") as the author and
    committer of a commit; none (git's own identity) for None."""
    if author is None:
        return {}
    name, _, email = author.rpartition(" <")
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email.rstrip(">"),
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email.rstrip(">"),
    }


class GitRepo:
    def __init__(self, root: Path):
        self.root = root

    def _git(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run git; a busy lock is retried with backoff for LOCK_PATIENCE seconds."""
        deadline = time.monotonic() + LOCK_PATIENCE
        backoff = FIRST_BACKOFF
        while True:
            result = subprocess.run(
                ["git", "-C", str(self.root), *args],
                capture_output=True,
                text=True,
                check=False,
                env=env,
            )
            if not check or result.returncode == 0:
                return result
            message = f"git {' '.join(args[:3])} failed: {result.stderr.strip()}"
            if not any(sign in result.stderr for sign in _BUSY):
                raise ControllerError(message)
            if time.monotonic() >= deadline:
                raise TemporaryError(f"{message} (still busy after {LOCK_PATIENCE:g} s)")
            time.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, MAX_BACKOFF)

    @classmethod
    def at(cls, path: Path) -> GitRepo:
        result = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not result.stdout.strip():
            raise ControllerError(
                f"{path} is not inside a git repository's work tree: results are committed "
                "to git, so run hpo-controller in the repository that holds overlays/"
            )
        return cls(Path(result.stdout.strip()))

    @classmethod
    def initialised(cls, path: Path) -> GitRepo:
        """The repository at `path`, made there (empty) when there is none: a controller in
        a cluster keeps only its status branch, fetched from and pushed to the remote."""
        if not (path / ".git").exists():
            result = subprocess.run(
                ["git", "init", "--quiet", str(path)], capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise ControllerError(f"git init {path} failed: {result.stderr.strip()}")
        return cls(path)

    def check_ready(self) -> None:
        """ControllerError unless a status commit can be made here: HEAD on a branch, no
        merge, rebase, cherry-pick, revert or bisect under way, an identity to commit as."""
        for name, what in _IN_PROGRESS.items():
            path = self._git("rev-parse", "--git-path", name).stdout.strip()
            if (self.root / path).exists():
                raise ControllerError(
                    f"{what} is in progress in {self.root}: finish or abort it (see "
                    "`git status`), then run hpo-controller again; nothing was run"
                )
        if self._git("symbolic-ref", "-q", "HEAD", check=False).returncode != 0:
            raise ControllerError(
                f"HEAD is detached in {self.root}: results are committed to a branch, so "
                "check one out (`git switch BRANCH`, or `git switch -c NEW`) and run again"
            )
        for role in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
            if self._git("var", role, check=False).returncode != 0:
                raise ControllerError(
                    "git has no identity to commit the results as: set one with "
                    '`git config user.name "NAME"` and `git config user.email EMAIL` (add '
                    "--global for every repository), then run again"
                )

    def current_branch(self) -> str | None:
        """The branch checked out (None: HEAD is detached)."""
        found = self._git("symbolic-ref", "-q", "--short", "HEAD", check=False)
        if found.returncode != 0:
            return None
        return found.stdout.strip() or None

    def state_of(self, paths: Sequence[str]) -> tuple[str | None, bool]:
        """The commit checked out (None: none yet) and whether `paths` hold changes that
        are not in it (staged, unstaged or untracked)."""
        head = self._git("rev-parse", "-q", "--verify", "HEAD", check=False).stdout.strip()
        changed = self._git(
            "status", "--porcelain", "--untracked-files=all", "--", *paths
        ).stdout.strip()
        return head or None, bool(changed)

    def commit_paths(
        self, paths: Sequence[Path], message: str, author: str | None = None
    ) -> str | None:
        """Commit exactly `paths` (relative to the root) on top of the current branch; None
        when they did not change. The user's index and other files are not touched, but
        for the entries of `paths`, which end up matching the new commit."""
        names = [p.as_posix() for p in paths]
        branch = self._git("symbolic-ref", "-q", "HEAD", check=False).stdout.strip()
        if not branch:
            raise ControllerError(f"HEAD is detached in {self.root}: cannot commit the results")
        while True:
            head = self._git("rev-parse", "-q", "--verify", "HEAD", check=False).stdout.strip()
            tree = self._tree(head, names)
            if head and tree == self._git("rev-parse", f"{head}^{{tree}}").stdout.strip():
                return None
            parents = ["-p", head] if head else []
            commit = self._git(
                "commit-tree",
                tree,
                *parents,
                "-m",
                message,
                env={**os.environ, **identity(author)} if author else None,
            ).stdout.strip()
            # Moves the branch only if it still points at `head` (for an unborn branch,
            # only if it still does not exist): a commit made meanwhile is kept.
            moved = self._git(
                "update-ref",
                "-m",
                "hpo-controller: status",
                branch,
                commit,
                head or "0" * 40,
                check=False,
            )
            if moved.returncode == 0:
                break
            if not any(sign in moved.stderr for sign in ("but expected", "is at", *_BUSY)):
                raise ControllerError(f"git update-ref failed: {moved.stderr.strip()}")
            time.sleep(random.uniform(0.0, FIRST_BACKOFF))  # the branch moved: again on top
        self._git("reset", "-q", commit, "--", *names)
        return commit

    def _tree(self, head: str, names: list[str]) -> str:
        """The tree of `head` with `names` as they are in the work tree, built in a private
        index that is removed after."""
        handle, index = tempfile.mkstemp(prefix="hpo-index-", dir=self._git_dir)
        os.close(handle)
        os.unlink(index)  # git makes it; an empty file is not an index
        env = {**os.environ, "GIT_INDEX_FILE": index}
        try:
            if head:
                self._git("read-tree", head, env=env)
            self._git("update-index", "--add", "--remove", "--", *names, env=env)
            return self._git("write-tree", env=env).stdout.strip()
        finally:
            for leftover in (index, f"{index}.lock"):
                if os.path.exists(leftover):
                    os.unlink(leftover)

    @functools.cached_property
    def _git_dir(self) -> str:
        """Asked once: a run's commits all go to the same repository."""
        return self._git("rev-parse", "--absolute-git-dir").stdout.strip()
