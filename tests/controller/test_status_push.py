"""Status commits on their own branch, pushed to real remotes (bare repositories on local
disk, and the same served over loopback HTTP with a token, as a forge serves them) while
other controllers and people push to the same remote: every status lands, no one's commit
is lost, the history stays linear, and a credential never shows. A remote on disk is
reached through git's command line, one over HTTP in-process through libgit2: the tests
that take `remote` run over both."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.errors import ControllerError
from controller.sinks.git.remote import Credentials, Publisher
from tests.conftest import REPO_ROOT
from tests.controller.gitserver import serving

REF = "refs/heads/hpo-status/dev"
PREFIX = "status/dev/"


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def remote_with_main(tmp_path: Path) -> Path:
    """A bare remote whose main has one commit."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(remote), str(seed))
    identify(seed)
    (seed / "README.md").write_text("hpo\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "--quiet", "-m", "start")
    git(seed, "push", "--quiet", "origin", "main")
    return remote


def identify(repo: Path) -> None:
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@localhost")


def clone(tmp_path: Path, remote: Path, name: str) -> Path:
    path = tmp_path / name
    git(tmp_path, "clone", "--quiet", str(remote), str(path))
    identify(path)
    return path


def publisher(repo: Path, remote: str | None = "origin", **kwargs: object) -> Publisher:
    return Publisher(repo, REF, PREFIX, remote=remote, **kwargs)  # type: ignore[arg-type]


USER, TOKEN = "bot", "ghp_TESTTOKEN"


@dataclass
class Remote:
    """A bare repository and how a controller reaches it."""

    path: Path
    url: str
    credentials: Credentials
    outage: threading.Event

    def controller(self, tmp_path: Path, name: str) -> Path:
        """A clone whose origin is this remote as the controller reaches it."""
        repo = clone(tmp_path, self.path, name)
        git(repo, "remote", "set-url", "origin", self.url)
        return repo

    def publisher(self, repo: Path, **kwargs: object) -> Publisher:
        return publisher(repo, credentials=self.credentials, **kwargs)

    @contextmanager
    def away(self) -> Iterator[None]:
        """The remote cannot be reached: a path with nothing there, a forge answering 503."""
        if self.url.startswith("http"):
            self.outage.set()
        else:
            self.path.rename(self.path.with_name("away.git"))
        try:
            yield
        finally:
            if self.url.startswith("http"):
                self.outage.clear()
            else:
                self.path.with_name("away.git").rename(self.path)


@pytest.fixture(params=["disk", "http"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    bare = remote_with_main(tmp_path)
    outage = threading.Event()
    if request.param == "disk":
        yield Remote(bare, str(bare), Credentials(), outage)
        return
    with serving(tmp_path, USER, TOKEN, outage) as (base, _):
        token = Credentials(token=TOKEN, username=USER)
        yield Remote(bare, f"{base}/remote.git", token, outage)


def files_on(remote: Path, ref: str = REF) -> dict[str, str]:
    listed = git(remote, "ls-tree", "-r", "--name-only", ref).split()
    return {path: git(remote, "show", f"{ref}:{path}") for path in listed}


def test_a_status_lands_on_its_own_branch_and_nowhere_else(tmp_path: Path, remote: Remote) -> None:
    repo = remote.controller(tmp_path, "controller")
    main_before = git(remote.path, "rev-parse", "main")
    status = remote.publisher(repo)
    assert status.commit({"status/dev/a.yaml": "trials: 1\n"}, "a: 1 trial [skip ci]")
    assert status.pending
    assert status.push("a: 1 trial [skip ci]")
    assert not status.pending
    assert files_on(remote.path) == {"status/dev/a.yaml": "trials: 1\n"}
    assert git(remote.path, "rev-parse", "main") == main_before
    assert git(repo, "status", "--porcelain") == ""  # the work tree and index untouched
    assert status.commit({"status/dev/a.yaml": "trials: 1\n"}, "again") is None


def test_paths_outside_the_environments_folder_are_refused(tmp_path: Path) -> None:
    repo = clone(tmp_path, remote_with_main(tmp_path), "controller")
    for path in ("spec/x.py", "status/prod/a.yaml", "status/dev/../../x"):
        with pytest.raises(ValueError, match="outside"):
            publisher(repo).commit({path: "x"}, "no")


def test_another_writer_moving_the_branch_is_built_upon(tmp_path: Path, remote: Remote) -> None:
    first, second = (remote.controller(tmp_path, name) for name in ("one", "two"))
    a, b = remote.publisher(first), remote.publisher(second)
    a.commit({"status/dev/a.yaml": "a1\n"}, "a1")
    assert a.push("a1")
    b.commit({"status/dev/b.yaml": "b1\n"}, "b1")  # b has not seen a's commit
    assert b.push("b1")
    a.commit({"status/dev/a.yaml": "a2\n"}, "a2")
    assert a.push("a2")
    assert files_on(remote.path) == {"status/dev/a.yaml": "a2\n", "status/dev/b.yaml": "b1\n"}
    assert git(remote.path, "rev-list", "--merges", REF) == ""  # linear


def test_a_hook_that_refuses_pushes_is_retried_and_then_waited_out(
    tmp_path: Path, remote: Remote
) -> None:
    hook = remote.path / "hooks" / "pre-receive"
    count = tmp_path / "refusals"
    count.write_text("2")
    hook.write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{count}")\n'
        'if [ "$n" -gt 0 ]; then\n'
        f'  echo $((n - 1)) > "{count}"\n'
        '  echo "busy, try again" >&2\n'
        "  exit 1\n"
        "fi\n"
    )
    hook.chmod(0o755)
    said: list[str] = []
    status = remote.publisher(remote.controller(tmp_path, "c"), say=said.append)
    status.commit({"status/dev/a.yaml": "1\n"}, "a")
    assert status.push("a")  # refused twice, then in
    assert files_on(remote.path) == {"status/dev/a.yaml": "1\n"}

    count.write_text("100")
    status.attempts = 2
    status.commit({"status/dev/a.yaml": "2\n"}, "a2")
    assert not status.push("a2")
    assert status.pending
    assert "results kept on refs/heads/hpo-status/dev" in said[-1]
    assert "busy, try again" in said[-1] and "pre-receive hook declined" in said[-1]
    assert files_on(remote.path) == {"status/dev/a.yaml": "1\n"}
    count.write_text("0")
    assert status.push("a2")  # the next status takes it out
    assert files_on(remote.path) == {"status/dev/a.yaml": "2\n"}


def test_an_unreachable_remote_keeps_the_results_until_it_returns(
    tmp_path: Path, remote: Remote
) -> None:
    status = remote.publisher(remote.controller(tmp_path, "c"), attempts=2)
    status.commit({"status/dev/a.yaml": "1\n"}, "a")
    with remote.away():
        assert not status.push("a")
        assert status.pending and status.kept is not None
    assert status.read("status/dev/a.yaml") == "1\n"  # kept locally
    assert status.push("a")
    assert files_on(remote.path) == {"status/dev/a.yaml": "1\n"}


def test_a_status_branch_deleted_or_rewritten_by_a_person_is_recreated(
    tmp_path: Path, remote: Remote
) -> None:
    status = remote.publisher(remote.controller(tmp_path, "c"))
    status.commit({"status/dev/a.yaml": "1\n"}, "a")
    assert status.push("a")
    git(remote.path, "update-ref", "-d", REF)  # deleted
    status.commit({"status/dev/a.yaml": "2\n"}, "a2")
    assert status.push("a2")
    assert files_on(remote.path) == {"status/dev/a.yaml": "2\n"}

    person = clone(tmp_path, remote.path, "person")  # rewritten: a history of the person's own
    git(person, "switch", "--quiet", "--orphan", "mine")
    (person / "NOTES.md").write_text("mine\n")
    git(person, "add", "NOTES.md")
    git(person, "commit", "--quiet", "-m", "a fresh start")
    git(person, "push", "--quiet", "--force", "origin", f"mine:{REF}")
    status.commit({"status/dev/b.yaml": "1\n"}, "b")
    assert status.push("b")
    assert files_on(remote.path) == {
        "NOTES.md": "mine\n",
        "status/dev/a.yaml": "2\n",
        "status/dev/b.yaml": "1\n",
    }


def test_many_writers_at_once_lose_nothing(tmp_path: Path, remote: Remote) -> None:
    """Six controllers, ten experiments each, three updates an experiment (180 pushes),
    all on one status branch, while one person pushes commits to main and another pushes
    notes to the status branch itself."""
    controllers = [remote.controller(tmp_path, f"controller-{i}") for i in range(6)]
    failures: list[str] = []

    def controller(index: int, repo: Path) -> None:
        with remote.publisher(repo, attempts=60) as status:
            for update in range(3):
                for experiment in range(10):
                    path = f"status/dev/c{index}-e{experiment}.yaml"
                    status.commit({path: f"update {update}\n"}, f"{path} {update} [skip ci]")
                    if not status.push(f"{path} {update} [skip ci]"):
                        failures.append(path)

    def person(name: str, branch: str) -> None:
        repo = clone(tmp_path, remote.path, name)
        if branch != "main":  # wait for the status branch, then work on it
            while subprocess.run(
                ["git", "-C", str(repo), "fetch", "--quiet", "origin", branch],
                capture_output=True,
                check=False,
            ).returncode:
                time.sleep(0.05)
            git(repo, "switch", "--quiet", "-c", "work", "FETCH_HEAD")
        for number in range(15):
            (repo / f"{name}.txt").write_text(f"{number}\n")
            git(repo, "add", f"{name}.txt")
            git(repo, "commit", "--quiet", "-m", f"{name} {number}")
            while subprocess.run(
                ["git", "-C", str(repo), "push", "--quiet", "origin", f"HEAD:{branch}"],
                capture_output=True,
                check=False,
            ).returncode:
                git(repo, "pull", "--quiet", "--rebase", "origin", branch)

    threads = [threading.Thread(target=controller, args=(i, c)) for i, c in enumerate(controllers)]
    threads.append(threading.Thread(target=person, args=("main-writer", "main")))
    threads.append(threading.Thread(target=person, args=("status-writer", REF)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    landed = files_on(remote.path)
    statuses = {k: v for k, v in landed.items() if k.startswith(PREFIX)}
    assert len(statuses) == 60
    assert set(statuses.values()) == {"update 2\n"}
    assert landed["status-writer.txt"] == "14\n"
    assert git(remote.path, "rev-list", "--merges", REF) == ""
    notes = git(remote.path, "log", "--format=%s", REF).splitlines()
    assert [n for n in notes if n.startswith("status-writer ")] == [
        f"status-writer {i}" for i in reversed(range(15))
    ]
    assert len(git(remote.path, "log", "--format=%s", "main").splitlines()) == 16  # start + 15


def test_experiments_of_one_controller_share_pushes(tmp_path: Path, remote: Remote) -> None:
    """Ten experiments' threads commit at once through one Publisher, twice each: every
    status lands, each call returns once the remote has its commit, and the experiments
    whose commits went out with another's push do not push again."""
    status = remote.publisher(remote.controller(tmp_path, "c"))
    start = threading.Barrier(10)
    seen: list[tuple[str, str]] = []

    def experiment(index: int) -> None:
        path = f"{PREFIX}e{index}.yaml"
        start.wait()
        for update in range(2):
            status.commit({path: f"update {update}\n"}, f"e{index} {update} [skip ci]")
            assert status.push(f"e{index} [skip ci]")
            seen.append((path, git(remote.path, "show", f"{REF}:{path}")))

    threads = [threading.Thread(target=experiment, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 20
    assert all(text.startswith("update ") for _, text in seen)  # each found on the remote
    assert files_on(remote.path) == {f"{PREFIX}e{i}.yaml": "update 1\n" for i in range(10)}
    assert not status.pending
    assert status.tries < 20  # fewer pushes than commits: they were shared
    assert git(remote.path, "rev-list", "--merges", REF) == ""


def test_a_push_that_fails_fails_for_every_commit_it_carried(
    tmp_path: Path, remote: Remote
) -> None:
    """Threads that waited on a push which could not reach the remote are told at once
    that their results are kept, not made to try again one after the other."""
    status = remote.publisher(remote.controller(tmp_path, "c"), attempts=3)  # 1 backoff
    results: list[bool] = []
    start = threading.Barrier(5)

    def experiment(index: int) -> None:
        status.commit({f"{PREFIX}e{index}.yaml": "1\n"}, f"e{index}")
        start.wait()
        results.append(status.push(f"e{index}"))

    with remote.away():
        threads = [threading.Thread(target=experiment, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [False] * 5
    assert status.tries == 3  # one push, its three attempts, for all five
    assert status.pending and status.kept is not None
    assert status.push("kept")  # the remote is back: the next push takes them all
    assert len(files_on(remote.path)) == 5


def test_a_token_never_shows_and_is_never_written(tmp_path: Path) -> None:
    secret = "ghp_PLANTEDSECRET0123456789"
    repo = clone(tmp_path, remote_with_main(tmp_path), "c")
    git(repo, "remote", "add", "web", "http://127.0.0.1:9/nowhere.git")  # nothing listens
    said: list[str] = []
    with Publisher(
        repo, REF, PREFIX, remote="web", credentials=Credentials(token=secret),
        attempts=1, say=said.append,
    ) as status:  # fmt: skip
        status.commit({"status/dev/a.yaml": "1\n"}, "a")
        try:
            status.push("a")
        except ControllerError as err:
            said.append(str(err))
    assert said and all(secret not in line for line in said)
    for path in (repo / ".git").rglob("*"):
        if path.is_file() and path.suffix != ".pack":
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in Credentials(token=secret).redact(f"https://x:{secret}@host/r.git")


def test_credentials_come_from_the_environment_or_a_mounted_secret(tmp_path: Path) -> None:
    assert Credentials.from_environment({"HPO_CONTROLLER_GIT_TOKEN": "t1"}).token == "t1"
    (tmp_path / "token-file").write_text("t2\n")
    found = Credentials.from_environment(
        {"HPO_CONTROLLER_GIT_TOKEN_FILE": str(tmp_path / "token-file")}
    )
    assert found.token == "t2"
    mounted = tmp_path / "secret"
    mounted.mkdir()
    (mounted / "token").write_text("t3")
    (mounted / "username").write_text("bot")
    (mounted / "ssh-privatekey").write_text("KEY")
    (mounted / "known_hosts").write_text("host ssh-ed25519 AAAA")
    creds = Credentials.from_environment({"HPO_CONTROLLER_GIT_CREDENTIALS": str(mounted)})
    assert (creds.token, creds.username) == ("t3", "bot")
    assert creds.ssh_key == mounted / "ssh-privatekey"
    assert creds.known_hosts == mounted / "known_hosts"
    assert Credentials.from_environment({}) == Credentials()


def test_pushes_over_http_with_a_token_that_never_shows(tmp_path: Path) -> None:
    """A remote served over loopback that asks for a token: the right one pushes, a wrong
    one is refused, and neither appears in any output or file."""
    secret = "ghp_PLANTEDSECRET0123456789"
    remote = remote_with_main(tmp_path)
    repo = clone(tmp_path, remote, "c")
    with serving(tmp_path, "bot", secret) as (url, refused):
        git(repo, "remote", "add", "forge", f"{url}/remote.git")
        said: list[str] = []
        good = Credentials(token=secret, username="bot")
        with Publisher(
            repo, REF, PREFIX, remote="forge", credentials=good, say=said.append
        ) as status:
            status.commit({"status/dev/a.yaml": "1\n"}, "a [skip ci]")
            assert status.push("a [skip ci]")
        assert files_on(remote) == {"status/dev/a.yaml": "1\n"}
        assert set(refused) == {""}  # each first request asks; git then answers with the token

        wrong = Credentials(token="ghp_WRONGTOKEN", username="bot")
        with Publisher(
            repo, REF, PREFIX, remote="forge", credentials=wrong, attempts=1, say=said.append
        ) as status:
            status.commit({"status/dev/a.yaml": "2\n"}, "a2")
            with pytest.raises(ControllerError) as raised:
                status.push("a2")
        said.append(str(raised.value))
    assert "Authentication failed" in said[-1] or "401" in said[-1]
    assert all(secret not in line and "ghp_WRONGTOKEN" not in line for line in said)
    for path in (repo / ".git").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_full_disk_is_a_clear_error_and_leaves_the_branch_as_it_was(tmp_path: Path) -> None:
    """git's writes fail as on a full disk (a file size limit, which root cannot ignore as
    it ignores permissions): the error says what to do, and the status branch is as it was."""
    repo = clone(tmp_path, remote_with_main(tmp_path), "c")
    with publisher(repo, remote=None) as status:
        status.commit({"status/dev/a.yaml": "small\n"}, "a")
    before = git(repo, "rev-parse", REF)
    code = (
        "import resource, secrets, sys\n"
        "from pathlib import Path\n"
        "from controller.errors import ControllerError\n"
        "from controller.sinks.git.remote import Publisher\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))\n"
        f"status = Publisher(Path({str(repo)!r}), {REF!r}, {PREFIX!r})\n"
        "try:\n"
        "    status.commit({'status/dev/a.yaml': secrets.token_hex(100000)}, 'big')\n"
        "except ControllerError as err:\n"
        "    print(err)\n"
        "    sys.exit(1)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert result.returncode == 1, result.stderr
    assert "cannot store the results" in result.stdout
    assert "free space on the disk, or make .git writable" in result.stdout
    assert git(repo, "rev-parse", REF) == before
    git(repo, "fsck", "--no-progress")


def test_no_trial_inherits_the_git_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from controller.executors.local.processes import trial_environment

    for name in ("TOKEN", "TOKEN_FILE", "SSH_KEY", "CREDENTIALS", "USERNAME"):
        monkeypatch.setenv(f"HPO_CONTROLLER_GIT_{name}", "planted")
    assert Credentials.from_environment().token == "planted"
    assert "planted" not in trial_environment().values()
