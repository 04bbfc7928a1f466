"""Status commits on a ref of their own, pushed to the team's remote without ever losing
anyone's work.

The controller's results live on a status branch (`refs/heads/hpo-status/<env>` unless the
team names another), never on a branch people work on, and every commit touches only the
files of one experiment under `status/<env>/`. Publishing is: commit those files onto the
local status ref (built in a private index from the ref's tip, so no work tree or index of
anyone's is touched), then fetch the remote's status branch, and where someone else moved
it (another controller, another environment, a person), make the commit again on top of
the fetched tip with the experiment's files as this controller has them (its own files
are only ever written by it), and push. A push is never forced: a refused one is made
again on top of the remote's new tip at once, then with jittered exponential backoff, a
bounded number of times; after that the results stay on the local ref and go out with the
next publish. Each environment has its own status branch, so controllers of different
environments never wait on each other.

Credentials reach git only through the environment of the git processes: an HTTPS token
through `GIT_ASKPASS` (a helper that prints it from its own environment), an SSH key
through `GIT_SSH_COMMAND`. Nothing is written into the repository or its config, and every
message that leaves this module has the token blanked. The variables they are read from
start with HPO_CONTROLLER_, which no trial inherits."""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import ControllerError
from controller.sinks.git.repo import identity

ATTEMPTS = 10
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 1.0
_ZERO = "0" * 40
# What git says when a push is refused for a reason worth retrying: the branch moved, a
# hook or the server said no for now.
_REJECTED = ("rejected", "non-fast-forward", "fetch first", "failed to push", "cannot lock ref")
# What git says when the remote cannot be reached at all.
_UNREACHABLE = (
    "Could not read from remote",
    "unable to access",
    "does not appear to be a git repository",
    "Connection refused",
    "Could not resolve host",
)


@dataclass(frozen=True)
class Credentials:
    """How git authenticates to the remote: an HTTPS token (and user name), or an SSH
    key file with, optionally, a known_hosts file. Read from the environment, or from the
    files a Kubernetes Secret mounts (see `from_environment`)."""

    token: str | None = None
    username: str = "x-access-token"
    ssh_key: Path | None = None
    known_hosts: Path | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """HPO_CONTROLLER_GIT_TOKEN (or the file HPO_CONTROLLER_GIT_TOKEN_FILE),
        HPO_CONTROLLER_GIT_USERNAME, HPO_CONTROLLER_GIT_SSH_KEY (a key file); or a folder
        HPO_CONTROLLER_GIT_CREDENTIALS holding a Secret's keys: `token`, `username`,
        `ssh-privatekey`, `known_hosts`."""
        env = os.environ if environ is None else environ
        folder = (
            Path(env["HPO_CONTROLLER_GIT_CREDENTIALS"])
            if env.get("HPO_CONTROLLER_GIT_CREDENTIALS")
            else None
        )

        def read(path: Path | None) -> str | None:
            if path is None or not path.is_file():
                return None
            return path.read_text(encoding="utf-8").strip() or None

        token = env.get("HPO_CONTROLLER_GIT_TOKEN") or read(
            Path(env["HPO_CONTROLLER_GIT_TOKEN_FILE"])
            if env.get("HPO_CONTROLLER_GIT_TOKEN_FILE")
            else None
        )
        if token is None and folder is not None:
            token = read(folder / "token")
        username = env.get("HPO_CONTROLLER_GIT_USERNAME") or (
            read(folder / "username") if folder is not None else None
        )
        key = (
            Path(env["HPO_CONTROLLER_GIT_SSH_KEY"])
            if env.get("HPO_CONTROLLER_GIT_SSH_KEY")
            else None
        )
        if key is None and folder is not None and (folder / "ssh-privatekey").is_file():
            key = folder / "ssh-privatekey"
        hosts = folder / "known_hosts" if folder is not None else None
        return cls(
            token=token,
            username=username or "x-access-token",
            ssh_key=key,
            known_hosts=hosts if hosts is not None and hosts.is_file() else None,
        )

    def redact(self, text: str) -> str:
        """`text` with the token blanked wherever it appears."""
        return text.replace(self.token, "***") if self.token else text


_ASKPASS = """#!/bin/sh
# Answers git's questions from the environment git was given; holds no secret itself.
case "$1" in
  Username*) printf '%s\\n' "$HPO_ASKPASS_USERNAME" ;;
  *) printf '%s\\n' "$HPO_ASKPASS_TOKEN" ;;
esac
"""


def _without_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"


def _why(said: str) -> str:
    """What a refused push's output says of why: the remote's own words and git's verdict
    (`[remote rejected] (pre-receive hook declined)`), on one line."""
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    remote = [line.removeprefix("remote:").strip() for line in lines if line.startswith("remote:")]
    verdict = [
        line.split("\t")[-1].strip() for line in lines if line.startswith("!") and "\t" in line
    ]
    words = [w for w in (*remote, *verdict) if w]
    if words:
        return "; ".join(words)
    rest = [line for line in lines if line not in ("Done",) and not line.startswith("To ")]
    return rest[-1] if rest else "no reason given"


@dataclass
class Publisher:
    """Publishes the status files under `prefix` (`status/<env>/`): onto `ref` locally
    and, where `remote` is set, to the same branch there."""

    root: Path
    ref: str
    prefix: str
    remote: str | None = None
    credentials: Credentials = field(default_factory=Credentials)
    attempts: int = ATTEMPTS
    say: Callable[[str], None] = lambda line: None
    author: str | None = None  # "Name <email>"; None: git's identity
    pending: bool = False  # local commits the remote does not have yet
    kept: str | None = None  # why the last push left them here (None: it did not)
    tries: int = 0  # push attempts made, all told

    def __post_init__(self) -> None:
        if not self.ref.startswith("refs/heads/"):
            raise ControllerError(
                f"the status ref {self.ref!r} must be a branch (refs/heads/...), so that it "
                "can be pushed and fetched"
            )
        if not self.prefix.endswith("/") or self.prefix.startswith("/"):
            raise ValueError(f"{self.prefix!r} is not a folder of the repository")
        self._helper: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._helper is not None:
            self._helper.cleanup()
            self._helper = None

    @property
    def shown_remote(self) -> str:
        """The remote as messages name it: a URL without any user or password in it."""
        return _without_userinfo(self.remote or "")

    def _askpass(self) -> str:
        """The helper git asks for the token: a script in a private folder that prints
        what the environment of the git process holds, and holds nothing itself."""
        if self._helper is None:
            self._helper = tempfile.TemporaryDirectory(prefix="hpo-git-")
            script = Path(self._helper.name) / "askpass"
            script.write_text(_ASKPASS)
            script.chmod(0o700)
        return str(Path(self._helper.name) / "askpass")

    # -- git ---------------------------------------------------------------------------

    def _env(self, index: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPO_CONTROLLER_GIT_")}
        env |= identity(self.author)
        env["GIT_TERMINAL_PROMPT"] = "0"
        if index is not None:
            env["GIT_INDEX_FILE"] = index
        creds = self.credentials
        if creds.token:
            env |= {
                "GIT_ASKPASS": self._askpass(),
                "HPO_ASKPASS_TOKEN": creds.token,
                "HPO_ASKPASS_USERNAME": creds.username,
            }
        if creds.ssh_key is not None:
            hosts = (
                f"-o UserKnownHostsFile={shlex.quote(str(creds.known_hosts))} "
                "-o StrictHostKeyChecking=yes"
                if creds.known_hosts
                else "-o StrictHostKeyChecking=accept-new"
            )
            key = shlex.quote(str(creds.ssh_key))
            env["GIT_SSH_COMMAND"] = f"ssh -i {key} -o IdentitiesOnly=yes {hosts}"
        return env

    def _git(
        self, *args: str, index: str | None = None, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", "-C", str(self.root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self._env(index),
            check=False,
        )
        if check and result.returncode != 0:
            said = self.credentials.redact(result.stderr.strip())
            raise ControllerError(f"git {args[0]} failed: {said}")
        return result

    def _tip(self, ref: str) -> str | None:
        found = self._git("rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
        return found.stdout.strip() or None

    def _own(self, path: str) -> str:
        if not path.startswith(self.prefix) or ".." in path.split("/"):
            raise ValueError(f"{path!r} lies outside {self.prefix}")
        return path

    # -- commits -----------------------------------------------------------------------

    def commit(self, files: Mapping[str, str], message: str) -> str | None:
        """Commit `files` (path in the repository under `prefix` -> text) onto the local
        status ref; the commit, None when they are already so. A commit made meanwhile by
        another process on the same ref is kept: this one goes on top of it."""
        try:
            blobs: dict[str, str | None] = {
                self._own(path): self._git(
                    "hash-object", "-w", "--stdin", stdin=text
                ).stdout.strip()
                for path, text in files.items()
            }
        except ControllerError as err:
            raise ControllerError(
                f"cannot store the results in {self.root}/.git ({err}); {self.ref} is as it "
                "was: free space on the disk, or make .git writable, and run again"
            ) from err
        while True:
            tip = self._tip(self.ref)
            made = self._commit_on(tip, blobs, message)
            if made is None:
                return None
            moved = self._git("update-ref", self.ref, made, tip or _ZERO, check=False)
            if moved.returncode == 0:
                self.pending = self.remote is not None
                return made
            time.sleep(random.uniform(0.0, FIRST_BACKOFF))

    def _commit_on(
        self, parent: str | None, blobs: Mapping[str, str | None], message: str
    ) -> str | None:
        """A commit of `parent`'s tree with `blobs` (path -> blob id, None: removed) in it;
        None if that changes nothing."""
        handle, index = tempfile.mkstemp(prefix="hpo-status-index-")
        os.close(handle)
        os.unlink(index)
        try:
            if parent:
                self._git("read-tree", parent, index=index)
            for path, blob in sorted(blobs.items()):
                if blob is None:
                    self._git("update-index", "--force-remove", "--", path, index=index)
                else:
                    cacheinfo = f"100644,{blob},{path}"
                    self._git("update-index", "--add", "--cacheinfo", cacheinfo, index=index)
            tree = self._git("write-tree", index=index).stdout.strip()
        finally:
            for leftover in (index, f"{index}.lock"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        if parent and tree == self._git("rev-parse", f"{parent}^{{tree}}").stdout.strip():
            return None
        parents = ["-p", parent] if parent else []
        return self._git("commit-tree", tree, *parents, "-m", message).stdout.strip()

    def read(self, path: str) -> str | None:
        """A file as the local status ref holds it (None: not there)."""
        shown = self._git("show", f"{self.ref}:{path}", check=False)
        return shown.stdout if shown.returncode == 0 else None

    # -- pushing -----------------------------------------------------------------------

    def sync(self) -> None:
        """Take what the remote's status branch has where this ref has nothing of its own
        beyond it (a fresh clone, a restarted pod): results it ran before resume from it."""
        if self.remote is None:
            return
        tracking = self._tracking()
        fetched = self._fetch(tracking)
        if fetched != "fetched":
            if fetched != "missing":
                self.say(f"{self.shown_remote} cannot be reached now ({fetched}); going on with "
                         f"what {self.ref} holds here")  # fmt: skip
            return
        remote_tip, local_tip = self._tip(tracking), self._tip(self.ref)
        if remote_tip is None or remote_tip == local_tip:
            return
        behind = (
            local_tip is None
            or self._git(
                "merge-base", "--is-ancestor", local_tip, remote_tip, check=False
            ).returncode
            == 0
        )
        if behind:
            self._git("update-ref", self.ref, remote_tip, local_tip or _ZERO)
        else:
            self.pending = True  # its own commits go on top at the next push

    def _ahead_of(self, tracking: str) -> bool:
        """Whether this ref holds the remote's tip as last seen, and more."""
        seen, local = self._tip(tracking), self._tip(self.ref)
        if seen is None or local is None or seen == local:
            return False
        return self._git("merge-base", "--is-ancestor", seen, local, check=False).returncode == 0

    def _tracking(self) -> str:
        return f"refs/hpo-remote/{self.ref.removeprefix('refs/heads/')}"

    def _fetch(self, tracking: str) -> str:
        """Fetch the remote's branch into `tracking`: "fetched", "missing" (not there), or
        why the remote cannot be reached. ControllerError for anything else."""
        assert self.remote is not None
        fetched = self._git(
            "fetch", "--quiet", "--no-tags", self.remote, f"+{self.ref}:{tracking}", check=False
        )
        said = self.credentials.redact(fetched.stderr.strip())
        if fetched.returncode == 0:
            return "fetched"
        if "couldn't find remote ref" in fetched.stderr:
            self._git("update-ref", "-d", tracking, check=False)
            return "missing"
        if any(sign in fetched.stderr for sign in _UNREACHABLE):
            return said.splitlines()[-1] if said else "unreachable"
        raise ControllerError(f"git fetch from {self.shown_remote} failed: {said}")

    def push(self, message: str) -> bool:
        """Push the local status ref; where the remote's branch moved, this ref's own
        changes under `prefix` are made again on top of it first (`message`). Whether the
        remote has them; False after the bounded retries (they stay local, `pending`)."""
        if self.remote is None:
            return True
        tracking = self._tracking()
        backoff = FIRST_BACKOFF
        last = ""
        for attempt in range(1, self.attempts + 1):
            self.tries += 1
            # First, where this ref only adds to what the remote had when last seen, a
            # push alone (one round trip); after a refusal, fetch and go on top first.
            fetched = "known" if attempt == 1 and self._ahead_of(tracking) else None
            fetched = fetched or self._fetch(tracking)
            if fetched == "fetched":
                self._rebase_onto(tracking, message)
            if fetched in ("known", "fetched", "missing"):
                pushed = self._git(
                    "push", "--porcelain", self.remote, f"{self.ref}:{self.ref}", check=False
                )
                if pushed.returncode == 0:
                    self.pending, self.kept = False, None
                    tip = self._tip(self.ref)
                    if tip is not None:
                        self._git("update-ref", tracking, tip, check=False)
                    return True
                last = self.credentials.redact((pushed.stderr + pushed.stdout).strip())
                if not any(sign in last for sign in (*_REJECTED, *_UNREACHABLE)):
                    raise ControllerError(f"git push to {self.shown_remote} failed: {last}")
            else:
                last = fetched
            # Refused once (someone else landed first): go again on top at once; from the
            # second refusal on, back off, with jitter, so that writers stop colliding.
            if 1 < attempt < self.attempts:
                time.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, MAX_BACKOFF)
        reason = _why(last)
        self.kept = (
            f"results kept on {self.ref}, not yet on {self.shown_remote} after {self.attempts} "
            f"tries ({reason}); they go out with the next status"
        )
        self.say(self.kept)
        return False

    def _rebase_onto(self, tracking: str, message: str) -> None:
        """Where the remote's branch has commits this ref lacks, make this ref the remote's
        tip plus what this ref changed under `prefix` since they parted: linear history,
        nothing of anyone else's lost, nothing outside `prefix` touched."""
        remote_tip, local_tip = self._tip(tracking), self._tip(self.ref)
        if remote_tip is None or remote_tip == local_tip:
            return
        if local_tip is None:
            self._git("update-ref", self.ref, remote_tip, _ZERO)
            return
        if (
            self._git("merge-base", "--is-ancestor", remote_tip, local_tip, check=False).returncode
            == 0
        ):
            return  # the remote's tip is behind this ref: a fast-forward
        base = self._git("merge-base", local_tip, remote_tip, check=False).stdout.strip()
        if base:  # what this ref changed since the two parted
            listed = self._git(
                "diff", "--name-only", "--no-renames", base, local_tip, "--", self.prefix
            )
        else:  # the remote's branch was rewritten: this ref's files are what it has
            listed = self._git("ls-tree", "-r", "--name-only", local_tip, "--", self.prefix)
        blobs: dict[str, str | None] = {}
        for path in listed.stdout.split("\n"):
            if path:
                found = self._git("rev-parse", "-q", "--verify", f"{local_tip}:{path}", check=False)
                blobs[self._own(path)] = found.stdout.strip() or None
        made = self._commit_on(remote_tip, blobs, message) or remote_tip
        self._git("update-ref", self.ref, made, local_tip)
