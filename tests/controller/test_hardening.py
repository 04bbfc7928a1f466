"""hpo-controller under a hostile or busy world: names that would lead it out of its folders,
a second controller on the same environment, a busy or half-finished git, a kill right
after trials end, a killed watchdog, corrupt status files, values that would forge output,
and variables of its own that trials must not see."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.core.trialspec import Command
from controller.errors import ControllerError
from controller.executors.local.executor import LocalExecutor
from controller.executors.local.processes import CONTROLLER_ONLY_PREFIX, Watchdog
from controller.layout import Layout
from controller.sinks.git.repo import GitRepo
from generator.files import yamlio
from generator.katib.repository import WORK_FOLDER
from tests.conftest import BIN, ProjectFactory, alive, git, render_and_commit, run_cli

TRAIN = """\
import os, sys, time

args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
name = os.environ["KATIB_TRIAL_NAME"]
with open("starts.txt", "a") as out:
    out.write(f"{name} {os.getpid()}\\n")
time.sleep(float(args.get("sleep", "0.3")))
with open("ends.txt", "a") as out:
    out.write(name + "\\n")
print(f"accuracy={float(args['x']):.6f}")
"""

SPEC = """\
from generator import SearchSpace, container, double, experiment, job, maximize, random_search

space = SearchSpace(x=double(0.0, 1.0))
busy = experiment(
    "busy",
    objective=maximize("accuracy"),
    algorithm=random_search(random_state=3),
    parameters=space,
    max_trial_count={trials},
    parallel_trial_count={parallel},
    trial=job(
        container(image="t:1", command=["python", "train.py", "--sleep={sleep}"],
                  args=space.cli_args())
    ),
)
"""


def project(make_project: ProjectFactory, trials: int = 6, parallel: int = 2, sleep: float = 0.3):  # type: ignore[no-untyped-def]
    spec = SPEC.format(trials=trials, parallel=parallel, sleep=sleep)
    root: Path = make_project({"spec/busy.py": spec, "train.py": TRAIN})
    render_and_commit(root)
    return root


def controller(root: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.Popen(
        [str(BIN / "hpo-controller"), "run", "--env", "dev", "--cold", *args],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def written_files(root: Path) -> set[str]:
    """Every file under the repository but .git: what a run may have written."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


# --- paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../overlays/dev", "dev/../dev", "/tmp", "..", "base", "x" * 300, "dev\n", "DEV"]
)
def test_an_environment_name_never_leads_outside_the_project(
    make_project: ProjectFactory, name: str
) -> None:
    root = project(make_project)
    before = written_files(root)
    result = run_cli("hpo-controller", "run", "--env", name, cwd=root)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    assert "environment" in result.stderr
    assert written_files(root) - before <= {f"{WORK_FOLDER}/.gitignore"}
    assert git(root, "status", "--porcelain") == ""


@given(st.text(max_size=80), st.text(max_size=80))
def test_every_path_the_layout_builds_lies_under_status_or_hpo(
    environment: str, experiment: str
) -> None:
    root = Path("/project")
    layout = Layout(root, environment)
    try:
        paths = [
            root / layout.status_path(experiment),
            root / layout.status_path(experiment, ".md"),
            layout.logs(experiment),
            layout.volume(experiment),
            layout.journal(experiment),
            layout.lock,
            layout.zygote_log,
        ]
    except ControllerError:
        return
    for path in paths:
        resolved = Path(os.path.normpath(path))
        assert resolved == path  # no '..' or '.' left to resolve
        assert resolved.is_relative_to(root / "status" / environment) or resolved.is_relative_to(
            root / WORK_FOLDER
        )


# --- one controller per environment -----------------------------------------------------


def test_a_second_controller_on_the_same_environment_stops_at_once(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project, trials=6, parallel=2, sleep=1.0)  # 3 s: time to start a second
    first = controller(root)
    try:
        deadline = time.monotonic() + 60
        while not lines(root / "starts.txt"):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.02)
        second = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
        assert second.returncode == 1
        assert f"pid {first.pid}" in second.stderr
        assert f"kill {first.pid}" in second.stderr
        assert first.wait(timeout=120) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert len(lines(root / "starts.txt")) == 6  # the budget, run once


def test_two_controllers_started_together_never_exceed_the_budget(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project, trials=4, parallel=2, sleep=0.2)
    runs = [controller(root) for _ in range(2)]
    codes = sorted(run.wait(timeout=120) for run in runs)
    # Usually the second stops at the lock (exit 1); on a slow machine it may only get
    # there once the first has finished, and then finds the experiment complete (exit 0).
    assert codes in ([0, 1], [0, 0])
    assert len(lines(root / "starts.txt")) == 4  # the budget, whichever way


def test_a_killed_controller_leaves_no_lock_behind(make_project: ProjectFactory) -> None:
    root = project(make_project, trials=4, parallel=2, sleep=0.5)
    first = controller(root)
    deadline = time.monotonic() + 60
    while not lines(root / "starts.txt"):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    again = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert again.returncode == 0, again.stderr


# --- git ---------------------------------------------------------------------------------


def test_a_busy_index_lock_is_waited_out(make_project: ProjectFactory) -> None:
    """An editor that runs `git status` every 20 ms holds .git/index.lock much of the time."""
    root = project(make_project, trials=4, parallel=2, sleep=0.1)
    lock = root / ".git" / "index.lock"
    stop = threading.Event()

    def editor() -> None:
        while not stop.is_set():
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            time.sleep(0.015)
            os.close(fd)
            lock.unlink()
            time.sleep(0.005)

    thread = threading.Thread(target=editor)
    thread.start()
    try:
        result = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0, result.stderr
    assert "busy" in git(root, "log", "-1", "--format=%s")


def start_a_conflicting_merge(root: Path) -> None:
    git(root, "switch", "--quiet", "-c", "other")
    (root / "train.py").write_text("# other\n")
    git(root, "commit", "--quiet", "-am", "other")
    git(root, "switch", "--quiet", "main")
    (root / "train.py").write_text("# main\n")
    git(root, "commit", "--quiet", "-am", "main")
    merge = subprocess.run(["git", "-C", str(root), "merge", "other"], capture_output=True)
    assert merge.returncode != 0


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        (start_a_conflicting_merge, "a merge is in progress"),
        (lambda root: git(root, "switch", "--quiet", "--detach"), "HEAD is detached"),
        (
            lambda root: (
                git(root, "config", "--unset", "user.name"),
                git(root, "config", "--unset", "user.email"),
                git(root, "config", "user.useConfigOnly", "true"),
            ),
            "no identity",
        ),
    ],
    ids=["merge", "detached", "identity"],
)
def test_a_repository_that_cannot_take_a_commit_is_refused_before_any_trial(
    make_project: ProjectFactory,
    setup,
    said: str,  # type: ignore[no-untyped-def]
) -> None:
    root = project(make_project)
    setup(root)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "EMAIL"},
        "HOME": str(root.parent),  # no global identity either
        "XDG_CONFIG_HOME": str(root.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    result = subprocess.run(
        [str(BIN / "hpo-controller"), "run", "--env", "dev", "--cold"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert said in result.stderr
    assert not (root / "starts.txt").exists()
    assert not (root / "status").exists()


def test_status_commits_never_touch_what_the_user_staged(make_project: ProjectFactory) -> None:
    root = project(make_project, trials=4, parallel=2, sleep=0.1)
    (root / "notes.txt").write_text("mine\n")
    git(root, "add", "notes.txt")
    (root / "train.py").write_text((root / "train.py").read_text() + "# unstaged edit\n")
    result = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert result.returncode == 0, result.stderr
    assert git(root, "diff", "--cached", "--name-only") == "notes.txt\n"
    assert git(root, "diff", "--name-only") == "train.py\n"
    committed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert committed and all(name.startswith("status/dev/") for name in committed)
    assert git(root, "status", "--porcelain", "--", "status") == ""


def test_a_commit_made_between_status_commits_is_kept(make_project: ProjectFactory) -> None:
    root = project(make_project, trials=2, parallel=1, sleep=0.0)
    repo = GitRepo(root)
    (root / "status").mkdir()
    (root / "status/a.yaml").write_text("a: 1\n")
    first = repo.commit_paths([Path("status/a.yaml")], "one")
    (root / "mine.txt").write_text("mine\n")
    git(root, "add", "mine.txt")
    git(root, "commit", "--quiet", "-m", "a person's commit")
    (root / "status/a.yaml").write_text("a: 2\n")
    second = repo.commit_paths([Path("status/a.yaml")], "two")
    assert first and second
    subjects = git(root, "log", "--format=%s", "-3").splitlines()
    assert subjects == ["two", "a person's commit", "one"]
    assert repo.commit_paths([Path("status/a.yaml")], "three") is None  # unchanged


# --- no finished trial runs twice ------------------------------------------------------------


def test_a_kill_right_after_trials_end_runs_none_of_them_again(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project, trials=8, parallel=2, sleep=0.25)
    kills: list[tuple[set[str], int]] = []  # trials that had exited, starts so far
    for _ in range(4):
        earlier = len(lines(root / "starts.txt"))
        run = controller(root)

        def seen(earlier: int = earlier) -> set[str]:
            """This controller's trials that exited and that it reaped. A trial of an
            earlier controller may end after that one died (before the watchdog kills it):
            no controller saw it end, so it may run again."""
            mine = {line.split()[0] for line in lines(root / "starts.txt")[earlier:]}
            return exited(root) & mine

        deadline = time.monotonic() + 60
        while not seen() and run.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        if run.poll() is not None:
            break
        # A trial has exited and been reaped by this controller: well within the second
        # before the status is written again.
        done = seen()
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        kills.append((done, len(lines(root / "starts.txt"))))
    assert kills
    final = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert final.returncode == 0, final.stderr
    starts = [line.split()[0] for line in lines(root / "starts.txt")]
    for done, count in kills:
        again = done & set(starts[count:])
        assert not again, f"finished trials ran again: {sorted(again)}"
    document = yamlio.load((root / "status/dev/busy.yaml").read_text(), data=True)
    assert document["status"]["trials"] == 8
    assert document["status"]["trialsSucceeded"] == 8


def exited(root: Path) -> set[str]:
    """Trials that wrote their end and whose process is gone (reaped by the controller)."""
    pids = dict(line.split() for line in lines(root / "starts.txt"))
    return {name for name in lines(root / "ends.txt") if not Path(f"/proc/{pids[name]}").exists()}


# --- the watchdog and the zygote ------------------------------------------------------------


@pytest.mark.skipif(not Watchdog.supported(), reason="the watchdog reads /proc")
def test_a_killed_watchdog_is_started_again_and_still_guards_the_trials(
    tmp_path: Path,
) -> None:
    executor = LocalExecutor(tmp_path, tmp_path / "logs")
    watchdog = executor._watchdog
    assert watchdog is not None
    pid_file = tmp_path / "trial.pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    executor.start("t-1", Command((sys.executable, "-c", code), (), None))
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    trial = int(pid_file.read_text())
    first = watchdog.process.pid
    os.kill(first, signal.SIGKILL)
    while watchdog.restarts == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert watchdog.process.pid != first and alive(watchdog.process.pid)
    # The controller's end of the new watchdog's pipe closes, as at the controller's death:
    assert watchdog.process.stdin is not None
    watchdog.process.stdin.close()
    while alive(trial):
        assert time.monotonic() < deadline, "the trial outlived its guard"
        time.sleep(0.02)
    executor.shutdown()


def zygote_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("hpo-zygote-*")}


def test_a_warm_pool_leaves_nothing_in_the_filesystem_even_when_killed() -> None:
    before = zygote_folders()
    script = (
        "import os, signal\n"
        "from controller.executors.local.warmstart import WarmPool\n"
        "pool = WarmPool(preload=())\n"
        "pool.start()\n"
        "pool._ready.wait(30)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert run.returncode == -signal.SIGKILL
    assert zygote_folders() == before


# --- corrupt state ------------------------------------------------------------------------


def finished(make_project: ProjectFactory) -> Path:
    root = project(make_project, trials=3, parallel=3, sleep=0.0)
    result = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


CORRUPTIONS = {
    "truncated": lambda text: text[: len(text) * 2 // 3],
    "cut-at-a-trial": lambda text: text[: text.index("- name: busy-0002")],
    "conflict-markers": lambda text: "<<<<<<< HEAD\n" + text + "=======\nx: 1\n>>>>>>> other\n",
    "a-list": lambda text: "- " + "\n- ".join(text.splitlines()[:3]) + "\n",
    "not-utf8": lambda text: "caf\udce9: 1\n",
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_status_file_is_a_clear_error_and_is_left_as_it_is(
    make_project: ProjectFactory, corruption: str
) -> None:
    root = finished(make_project)
    path = root / "status/dev/busy.yaml"
    text = CORRUPTIONS[corruption](path.read_text())
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    starts = len(lines(root / "starts.txt"))
    for command in (("hpo-controller", "run", "--env", "dev"), ("hpo-gen", "status")):
        result = run_cli(*command, cwd=root)
        assert result.returncode == 1, (command, result.stderr)
        assert "status/dev/busy.yaml" in result.stderr
        assert "git checkout -- status/dev/busy.yaml" in result.stderr
        assert "--rerun" in result.stderr
        assert "internal error" not in result.stderr
    assert path.read_bytes() == text.encode("utf-8", "surrogateescape")
    assert len(lines(root / "starts.txt")) == starts
    rerun = run_cli("hpo-controller", "run", "--env", "dev", "--cold", "--rerun", cwd=root)
    assert rerun.returncode == 0, rerun.stderr


# --- output -------------------------------------------------------------------------------

FORGING = """\
from generator import SearchSpace, categorical, container, experiment, job, maximize, grid

space = SearchSpace(tag=categorical(["a\\nhpo-controller: forged", "b|c`d", "e"]))
forging = experiment(
    "forging",
    objective=maximize("accuracy"),
    algorithm=grid(),
    parameters=space,
    max_trial_count=3,
    parallel_trial_count=1,
    trial=job(container(image="t:1", command=["python", "-m", "echo"], args=space.cli_args())),
)
"""
ECHO = """\
import os, sys

tag = sys.argv[1].split("=", 1)[1]
print("accuracy=" + ("0.9" if tag.startswith("a") else "0.5"))
print("secret=" + os.environ.get("HPO_CONTROLLER_SECRET", "none"))
"""


def test_values_cannot_forge_lines_tables_or_variables(make_project: ProjectFactory) -> None:
    root = make_project({"spec/forging.py": FORGING, "echo.py": ECHO})
    render_and_commit(root)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}}
    env[f"{CONTROLLER_ONLY_PREFIX}SECRET"] = "s3cr3t"
    for start in ("--cold", "--warm"):
        result = subprocess.run(
            [str(BIN / "hpo-controller"), "run", "--env", "dev", start, "--rerun"],
            cwd=root,
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        output = (result.stderr + result.stdout).splitlines()
        assert not any(line.startswith("hpo-controller: forged") for line in output)
        logs = list((root / ".hpo/logs/dev/forging").glob("*.log"))
        assert logs and all("secret=none" in log.read_text() for log in logs)
    markdown = (root / "status/dev/forging.md").read_text()
    rows = [line for line in markdown.splitlines() if re.match(r"\| \d+ \| forging-", line)]
    assert len(rows) == 3
    # number | trial | state | accuracy | tag | duration | log | why: no value adds a cell
    assert all(row.count(" | ") == 7 for row in rows)
    for style, said in (("env", "line break"), ("args", None), ("json", None)):
        best = run_cli("hpo-gen", "best", "forging", "--format", style, cwd=root)
        if said:
            # the best trial's value holds a line break, which no env line can carry
            assert best.returncode == 1 and said in best.stderr
        else:
            assert best.returncode == 0, best.stderr


def test_files_the_controller_writes_follow_the_umask(make_project: ProjectFactory) -> None:
    root = finished(make_project)
    for path in (root / "status/dev").iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask(), path


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_live_display_shows_a_metric_name_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    from controller.console.live import LiveDisplay
    from controller.core.records import ExperimentRecord, MetricSummary, TrialRecord, TrialState
    from generator import (
        SearchSpace,
        container,
        double,
        experiment,
        job,
        maximize,
        random_search,
    )

    space = SearchSpace(x=double(0.0, 1.0))
    spec = experiment(
        "live",
        objective=maximize("acc[/bold]\n[red]"),
        algorithm=random_search(),
        parameters=space,
        max_trial_count=2,
        trial=job(container(image="t:1", command=["python", "t.py"])),
    )
    trial = TrialRecord(
        "live-0001",
        (("x", "0.5"),),
        state=TrialState.SUCCEEDED,
        metrics=(MetricSummary("acc[/bold]\n[red]", 0.5, 0.5, 0.5, (0.5,)),),
    )
    record = ExperimentRecord("live", None, [trial], "2026-01-01T00:00:00Z")
    with LiveDisplay() as display:
        display.update(spec, record)  # rich markup in the name would raise MarkupError
    assert "acc[/bold]\\n[red]" in capsys.readouterr().err


def test_the_journal_reads_back_around_gaps_and_a_cut_last_line(tmp_path: Path) -> None:
    from controller.core.records import TrialRecord
    from controller.engine.journal import TrialJournal, read
    from controller.ports import TrialExit

    path = tmp_path / "journal.jsonl"
    journal = TrialJournal(path, lambda: "2026-01-01T00:00:00Z")
    journal.reset()
    journal.started(TrialRecord("t-0001", (("x", "1"),)), None)
    journal.exited(TrialExit("t-0001", 0))
    journal.close()
    data = path.read_bytes()
    assert len(data) >= 1 << 20 and data.rstrip(b"\0").endswith(b"\n")  # laid out ahead
    # a line reserved but never written (a gap of zeros), then a line cut short
    end = len(data.rstrip(b"\0"))
    path.write_bytes(data[:end] + bytes(40) + b'{"stopping":"t-0001","early":true}\n{"exi')
    entries = read(path)
    assert set(entries.started) == {"t-0001"}
    assert entries.exited["t-0001"].code == 0
    assert entries.stopping == {"t-0001": True}
    path.write_bytes(b'{"exited": 3}\n{"started": {}}\n')
    with pytest.raises(ControllerError, match="remove the file"):
        read(path)
    again = TrialJournal(path, lambda: "now")
    again.reset()
    again.close()
    assert read(path).exited == {}
