"""Git, through the git command line: the only module that runs git. Commits touch only
the paths given, whatever else is staged or changed in the work tree."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from controller.errors import ControllerError, TemporaryError

# Used only when the repository has no identity of its own (a fresh CI machine).
FALLBACK_IDENTITY = ("hpo-controller", "hpo-controller@localhost")


class GitRepo:
    def __init__(self, root: Path):
        self.root = root

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            message = f"git {' '.join(args)} failed: {result.stderr.strip()}"
            if "index.lock" in result.stderr:
                raise TemporaryError(message)
            raise ControllerError(message)
        return result

    @classmethod
    def at(cls, path: Path) -> GitRepo:
        result = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ControllerError(
                f"{path} is not inside a git repository: results are committed to git, "
                "so run hpo-controller in the repository that holds overlays/"
            )
        return cls(Path(result.stdout.strip()))

    def _identity(self) -> list[str]:
        name = self._git("config", "user.name", check=False).stdout.strip()
        email = self._git("config", "user.email", check=False).stdout.strip()
        if name and email:
            return []
        return [
            "-c",
            f"user.name={FALLBACK_IDENTITY[0]}",
            "-c",
            f"user.email={FALLBACK_IDENTITY[1]}",
        ]

    def commit_paths(self, paths: Sequence[Path], message: str) -> str | None:
        """Commit exactly `paths` (relative to the root); None when they did not change."""
        names = [str(p) for p in paths]
        self._git("add", "--", *names)
        staged = self._git("diff", "--cached", "--quiet", "--", *names, check=False)
        if staged.returncode == 0:
            return None
        self._git(*self._identity(), "commit", "--quiet", "-m", message, "--only", "--", *names)
        return self._git("rev-parse", "HEAD").stdout.strip()
