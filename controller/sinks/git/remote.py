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

Within one controller, threads commit one after the other and push one at a time: a push
carries every commit the ref holds when it is sent, so a thread whose commit went out with
another's push returns as soon as that push lands instead of pushing again (a group
commit). Experiments that end together cost one or two pushes, not one each.

A remote over HTTPS is reached in-process through libgit2, which asks for the token when
the remote does and gets it from memory. An SSH or local remote goes through git's command
line: the token (if any) through `GIT_ASKPASS` (a helper that prints it from its own
environment), an SSH key through `GIT_SSH_COMMAND`. Nothing is written into the repository
or its config, and every message that leaves this module has the token blanked. The
variables they are read from start with HPO_CONTROLLER_, which no trial inherits."""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType, FileMode

from controller.errors import ControllerError

ATTEMPTS = 10
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 1.0
_ZERO = "0" * 40
# What git says when a push is refused for a reason worth retrying: the branch moved, a
# hook or the server said no for now.
# (git's command line, then libgit2's words.)
_REJECTED = (
    "rejected",
    "non-fast-forward",
    "fetch first",
    "failed to push",
    "cannot lock ref",
    "non-fastforwardable",
    "not present locally",
    "failed to lock",
)
# What git and libgit2 say when the remote cannot be reached at all, or not now (a server
# error is worth another try; a missing repository is not).
_UNREACHABLE = (
    "Could not read from remote",
    "unable to access",
    "does not appear to be a git repository",
    "Connection refused",
    "Could not resolve host",
    "failed to connect",
    "failed to resolve",
    "timed out",
    "connection reset",
    "unexpected disconnect",
    "early EOF",
    "unexpected http status code: 5",
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


def _over_https(url: str) -> bool:
    return url.split("://", 1)[0].lower() in ("http", "https") if "://" in url else False


def _is_ancestor(repo: pygit2.Repository, older: pygit2.Oid, newer: pygit2.Oid) -> bool:
    return older == newer or bool(repo.descendant_of(newer, older))


def _files_under(tree: pygit2.Tree, prefix: str) -> dict[str, pygit2.Oid]:
    """Every file under the folder `prefix` of `tree`: path -> blob id."""
    try:
        top = tree[prefix.rstrip("/")]
    except KeyError:
        return {}
    found: dict[str, pygit2.Oid] = {}
    folders: list[tuple[str, pygit2.Object]] = [(prefix, top)]
    while folders:
        path, folder = folders.pop()
        if not isinstance(folder, pygit2.Tree):
            continue
        for entry in folder:
            name = f"{path}{entry.name}"
            if isinstance(entry, pygit2.Tree):
                folders.append((f"{name}/", entry))
            else:
                found[name] = entry.id
    return found


class _CredentialsRefused(Exception):
    """The remote asked for credentials this controller does not have, or refused them."""


class _Callbacks(pygit2.RemoteCallbacks):
    """What libgit2 asks of a fetch or push: the token (from memory, once: a second request
    means the remote refused it), and what the remote says and refuses."""

    def __init__(self, credentials: Credentials, url: str):
        super().__init__()
        self.given = credentials
        self.url = url
        self.asked = 0
        self.said: list[str] = []
        self.refused: dict[str, str] = {}

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass:
        self.asked += 1
        if self.asked > 1:
            raise _CredentialsRefused(
                "Authentication failed: the remote refused the token (HTTP 401); check "
                "HPO_CONTROLLER_GIT_TOKEN (or the mounted secret) and the user name"
            )
        if not allowed_types & CredentialType.USERPASS_PLAINTEXT:
            raise _CredentialsRefused(
                "the remote asks for a kind of credentials other than a token"
            )
        token, username = self.given.token, self.given.username
        if token is None:  # a URL that holds user and password
            userinfo = urlsplit(self.url)
            token, username = userinfo.password, userinfo.username or username
        if token is None:
            raise _CredentialsRefused(
                "Authentication failed: the remote asks for credentials and none are set; "
                "set HPO_CONTROLLER_GIT_TOKEN (or HPO_CONTROLLER_GIT_TOKEN_FILE, or mount the "
                "Secret at HPO_CONTROLLER_GIT_CREDENTIALS)"
            )
        return pygit2.UserPass(username, token)

    def sideband_progress(self, string: str) -> None:
        self.said.append(string)

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.refused[refname] = message


@dataclass
class Publisher:
    """Publishes the status files under `prefix` (`status/<env>/`): onto `ref` locally
    and, where `remote` is set, to the same branch there. Safe to share between threads:
    their commits go one at a time (another process's are met by compare-and-swap), and
    their pushes one at a time, each carrying every commit made before it.

    Commits are made in-process (libgit2, through pygit2) from an index in memory, and the
    ref moves by compare-and-swap. A remote over HTTPS is fetched from and pushed to
    in-process too, the token handed over in memory when the remote asks; an SSH or local
    remote goes through git's command line (OpenSSH checks the host's key against
    known_hosts; a local remote's hooks run as a server's would)."""

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
    pushes: int = 0  # pushes finished (each of one or more attempts), landed or not

    def __post_init__(self) -> None:
        if not self.ref.startswith("refs/heads/"):
            raise ControllerError(
                f"the status ref {self.ref!r} must be a branch (refs/heads/...), so that it "
                "can be pushed and fetched"
            )
        if not self.prefix.endswith("/") or self.prefix.startswith("/"):
            raise ValueError(f"{self.prefix!r} is not a folder of the repository")
        self._helper: tempfile.TemporaryDirectory[str] | None = None
        self._identity: tuple[tuple[str, str], tuple[str, str]] | None = None
        # Changes made here for the remote, counted; how many of them a push has landed;
        # how many the last push carried. `_state` guards them, `pending` and `pushes`;
        # `_pushing` lets one push go at a time, `_committing` one commit (a commit of
        # another process is met by compare-and-swap).
        self._made = self._landed = self._last_sent = 0
        self._state = threading.Lock()
        self._pushing = threading.Lock()
        self._committing = threading.Lock()

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

    # -- the repository ----------------------------------------------------------------

    def _repository(self) -> pygit2.Repository:
        """The repository, opened afresh: each call sees what other processes wrote."""
        try:
            return pygit2.Repository(str(self.root))
        except pygit2.GitError as err:
            raise ControllerError(f"{self.root} is not a git repository ({err})") from err

    def _tip(self, repo: pygit2.Repository, ref: str) -> pygit2.Oid | None:
        found = repo.references.get(ref)
        if found is None:
            return None
        target = found.resolve().target
        return target if isinstance(target, pygit2.Oid) else None

    def _signatures(self) -> tuple[pygit2.Signature, pygit2.Signature]:
        """Author and committer: `author` for both, else git's own identity (its config
        and GIT_AUTHOR_* / GIT_COMMITTER_* variables, as `git var` reads them)."""
        if self._identity is None:
            if self.author is not None:
                name, _, email = self.author.rpartition(" <")
                self._identity = ((name, email.rstrip(">")),) * 2
            else:
                found = []
                for role in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
                    said = self._git("var", role, check=False)
                    if said.returncode != 0:
                        raise ControllerError(
                            "git has no identity to commit the results as: set the "
                            "environment's commit_author, or `git config user.name` and "
                            "`git config user.email`"
                        )
                    name, _, rest = said.stdout.strip().rpartition(" <")
                    found.append((name, rest.partition(">")[0]))
                self._identity = (found[0], found[1])
        (author_name, author_email), (name, email) = self._identity
        return pygit2.Signature(author_name, author_email), pygit2.Signature(name, email)

    def _own(self, path: str) -> str:
        if not path.startswith(self.prefix) or ".." in path.split("/"):
            raise ValueError(f"{path!r} lies outside {self.prefix}")
        return path

    # -- commits -----------------------------------------------------------------------

    def commit(self, files: Mapping[str, str], message: str) -> str | None:
        """Commit `files` (path in the repository under `prefix` -> text) onto the local
        status ref; the commit, None when they are already so. A commit made meanwhile by
        another process on the same ref is kept: this one goes on top of it."""
        repo = self._repository()
        try:
            blobs: dict[str, pygit2.Oid | None] = {
                self._own(path): repo.create_blob(text.encode("utf-8"))
                for path, text in files.items()
            }
            with self._committing:
                return self._commit_blobs(repo, blobs, message)
        except (pygit2.GitError, OSError) as err:
            raise ControllerError(
                f"cannot store the results in {self.root}/.git ({err}); {self.ref} is as it "
                "was: free space on the disk, or make .git writable, and run again"
            ) from err

    def _commit_blobs(
        self, repo: pygit2.Repository, blobs: Mapping[str, pygit2.Oid | None], message: str
    ) -> str | None:
        while True:
            tip = self._tip(repo, self.ref)
            made = self._commit_on(repo, tip, blobs, message)
            if made is None:
                return None
            if self._move(repo, self.ref, made, tip):
                self._changed()
                return str(made)
            time.sleep(random.uniform(0.0, FIRST_BACKOFF))  # another process moved it

    def _changed(self) -> None:
        """The local ref holds a change the remote lacks."""
        if self.remote is not None:
            with self._state:
                self._made += 1
                self.pending = True

    @staticmethod
    def _move(
        repo: pygit2.Repository, ref: str, to: pygit2.Oid, expected: pygit2.Oid | None
    ) -> bool:
        """Point `ref` at `to` if it still points at `expected` (None: does not exist);
        whether it moved. Another writer's move (or its lock) in between: False."""
        try:
            if expected is None:
                repo.references.create(ref, to)
                return True
            found = repo.references.get(ref)
            if found is None or found.target != expected:
                return False
            found.set_target(to)  # libgit2 checks the old value under the ref's lock
            return True
        except pygit2.AlreadyExistsError:
            return False
        except pygit2.GitError as err:
            if "does not match" in str(err) or "lock" in str(err):
                return False
            raise

    def _commit_on(
        self,
        repo: pygit2.Repository,
        parent: pygit2.Oid | None,
        blobs: Mapping[str, pygit2.Oid | None],
        message: str,
    ) -> pygit2.Oid | None:
        """A commit of `parent`'s tree with `blobs` (path -> blob id, None: removed) in it;
        None if that changes nothing."""
        index = pygit2.Index()
        parent_commit = repo[parent] if parent is not None else None
        if isinstance(parent_commit, pygit2.Commit):
            index.read_tree(parent_commit.tree)
        for path, blob in sorted(blobs.items()):
            if blob is None:
                if path in index:
                    index.remove(path)
            else:
                index.add(pygit2.IndexEntry(path, blob, FileMode.BLOB))
        tree = index.write_tree(repo)
        if isinstance(parent_commit, pygit2.Commit) and tree == parent_commit.tree_id:
            return None
        author, committer = self._signatures()
        parents = [parent] if parent is not None else []
        return repo.create_commit(None, author, committer, message, tree, parents)

    def read(self, path: str) -> str | None:
        """A file as the local status ref holds it (None: not there)."""
        repo = self._repository()
        tip = self._tip(repo, self.ref)
        commit = repo[tip] if tip is not None else None
        if not isinstance(commit, pygit2.Commit):
            return None
        try:
            found = commit.tree[path]
        except KeyError:
            return None
        return found.data.decode("utf-8") if isinstance(found, pygit2.Blob) else None

    # -- the command line (SSH and local remotes, git's identity) ----------------------

    def _env(self, network: bool) -> dict[str, str]:
        """The environment of a git process: credentials only for one that reaches the
        remote."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPO_CONTROLLER_GIT_")}
        env["GIT_TERMINAL_PROMPT"] = "0"
        creds = self.credentials
        if not network:
            return env
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

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", "-C", str(self.root), *args],
            capture_output=True,
            text=True,
            env=self._env(network=args[0] in ("fetch", "push")),
            check=False,
        )
        if check and result.returncode != 0:
            said = self.credentials.redact(result.stderr.strip())
            raise ControllerError(f"git {args[0]} failed: {said}")
        return result

    # -- the remote --------------------------------------------------------------------

    def _remote_of(self, repo: pygit2.Repository) -> pygit2.Remote | None:
        """The remote to reach in-process (over HTTPS); None: through git's command line."""
        assert self.remote is not None
        try:
            named: pygit2.Remote | None = repo.remotes[self.remote]
        except (KeyError, ValueError, pygit2.GitError):
            named = None
        url = (named.push_url or named.url) if named is not None else self.remote
        if not url or not _over_https(url):
            return None
        return named if named is not None else repo.remotes.create_anonymous(url)

    def _callbacks(self, remote: pygit2.Remote) -> _Callbacks:
        return _Callbacks(self.credentials, remote.push_url or remote.url or "")

    def _failure(self, err: Exception, callbacks: _Callbacks) -> str:
        """What the remote said, then the error, on one line with the token blanked."""
        said = [line.strip() for line in callbacks.said if line.strip()]
        return self.credentials.redact("; ".join([*said, str(err)]))

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
        repo = self._repository()
        remote_tip, local_tip = self._tip(repo, tracking), self._tip(repo, self.ref)
        if remote_tip is None or remote_tip == local_tip:
            return
        if local_tip is None or _is_ancestor(repo, local_tip, remote_tip):
            if not self._move(repo, self.ref, remote_tip, local_tip):
                self._changed()  # committed here meanwhile: goes on top at the next push
        else:
            self._changed()  # its own commits go on top at the next push

    def _ahead_of(self, tracking: str) -> bool:
        """Whether this ref holds the remote's tip as last seen, and more."""
        repo = self._repository()
        seen, local = self._tip(repo, tracking), self._tip(repo, self.ref)
        if seen is None or local is None or seen == local:
            return False
        return _is_ancestor(repo, seen, local)

    def _tracking(self) -> str:
        return f"refs/hpo-remote/{self.ref.removeprefix('refs/heads/')}"

    def _fetch(self, tracking: str) -> str:
        """Fetch the remote's branch into `tracking`: "fetched", "missing" (not there), or
        why the remote cannot be reached. ControllerError for anything else."""
        assert self.remote is not None
        repo = self._repository()
        remote = self._remote_of(repo)
        if remote is None:
            return self._fetch_with_git(tracking)
        before = self._tip(repo, tracking)
        if before is not None:  # so that afterwards the ref says whether the remote has it
            repo.references.delete(tracking)
        callbacks = self._callbacks(remote)
        try:
            remote.fetch([f"+{self.ref}:{tracking}"], callbacks=callbacks, proxy=True)
        except (pygit2.GitError, _CredentialsRefused) as err:
            if before is not None and self._tip(repo, tracking) is None:
                repo.references.create(tracking, before)
            said = self._failure(err, callbacks)
            if not isinstance(err, _CredentialsRefused) and _unreachable(said):
                return said
            raise ControllerError(f"fetch from {self.shown_remote} failed: {said}") from err
        return "fetched" if self._tip(self._repository(), tracking) is not None else "missing"

    def _fetch_with_git(self, tracking: str) -> str:
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
        if _unreachable(fetched.stderr):
            return said.splitlines()[-1] if said else "unreachable"
        raise ControllerError(f"git fetch from {self.shown_remote} failed: {said}")

    def _send(self) -> str | None:
        """Push the local ref once: None when the remote took it; what was said when it
        was refused or could not be reached (worth another try). ControllerError for
        anything else."""
        assert self.remote is not None
        repo = self._repository()
        remote = self._remote_of(repo)
        if remote is None:
            pushed = self._git(
                "push", "--porcelain", self.remote, f"{self.ref}:{self.ref}", check=False
            )
            if pushed.returncode == 0:
                return None
            said = self.credentials.redact((pushed.stderr + pushed.stdout).strip())
            if _rejected(said) or _unreachable(said):
                return said
            raise ControllerError(f"git push to {self.shown_remote} failed: {said}")
        callbacks = self._callbacks(remote)
        try:
            remote.push([f"{self.ref}:{self.ref}"], callbacks=callbacks, proxy=True)
        except (pygit2.GitError, _CredentialsRefused) as err:
            said = self._failure(err, callbacks)
            if not isinstance(err, _CredentialsRefused) and (_rejected(said) or _unreachable(said)):
                return said
            raise ControllerError(f"push to {self.shown_remote} failed: {said}") from err
        if callbacks.refused:
            lines = [f"remote: {line.strip()}" for line in callbacks.said if line.strip()]
            lines += [
                f"!\t{name}\t[remote rejected] ({why})" for name, why in callbacks.refused.items()
            ]
            return self.credentials.redact("\n".join(lines))
        return None

    def push(self, message: str) -> bool:
        """Push the local status ref; where the remote's branch moved, this ref's own
        changes under `prefix` are made again on top of it first (`message`). Whether the
        remote has every change made here before the call; False after the bounded
        retries (they stay local, `pending`). One push goes at a time: a call that waited
        on another's push whose ref carried its changes returns that push's outcome."""
        if self.remote is None:
            return True
        with self._state:
            wanted, seen = self._made, self.pushes
        with self._pushing:
            with self._state:
                if self._landed >= wanted:
                    return True  # carried by a push that landed while this one waited
                if self.pushes > seen and self._last_sent >= wanted:
                    return False  # carried by a push that just failed: kept, said
                sent = self._made
            landed = self._push(message)
            with self._state:
                self.pushes += 1
                self._last_sent = sent
                if landed:
                    self._landed = max(self._landed, sent)
                    if self._made == sent:
                        self.pending = False
            return landed

    def _push(self, message: str) -> bool:
        """One push with its retries, as `push` describes."""
        assert self.remote is not None
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
                refused = self._send()
                if refused is None:
                    self.kept = None
                    repo = self._repository()
                    tip = self._tip(repo, self.ref)
                    if tip is not None:
                        repo.references.create(tracking, tip, force=True)
                    return True
                last = refused
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
        nothing of anyone else's lost, nothing outside `prefix` touched. A commit made here
        meanwhile (by another process: this one's wait) leaves the ref as it is, for the
        next try."""
        with self._committing:
            self._rebase_locked(tracking, message)

    def _rebase_locked(self, tracking: str, message: str) -> None:
        repo = self._repository()
        remote_tip, local_tip = self._tip(repo, tracking), self._tip(repo, self.ref)
        if remote_tip is None or remote_tip == local_tip:
            return
        if local_tip is None:
            self._move(repo, self.ref, remote_tip, None)
            return
        if _is_ancestor(repo, remote_tip, local_tip):
            return  # the remote's tip is behind this ref: a fast-forward
        local = repo[local_tip]
        assert isinstance(local, pygit2.Commit)
        mine = _files_under(local.tree, self.prefix)
        base = repo.merge_base(local_tip, remote_tip)
        base_commit = repo[base] if base is not None else None
        if isinstance(base_commit, pygit2.Commit):  # what this ref changed since they parted
            before = _files_under(base_commit.tree, self.prefix)
            changed: dict[str, pygit2.Oid | None] = {
                path: mine.get(path)
                for path in {*mine, *before}
                if mine.get(path) != before.get(path)
            }
        else:  # the remote's branch was rewritten: this ref's files are what it has
            changed = dict(mine)
        made = self._commit_on(repo, remote_tip, changed, message) or remote_tip
        self._move(repo, self.ref, made, local_tip)


def _rejected(said: str) -> bool:
    return any(sign in said for sign in _REJECTED)


def _unreachable(said: str) -> bool:
    return any(sign.lower() in said.lower() for sign in _UNREACHABLE)
