"""The status in git is the durable state: kill hpo-controller with SIGKILL at random
moments, run it again, and the experiment ends with exactly maxTrialCount trials, none
lost or repeated, and no trial process outliving its controller."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from generator.files import yamlio
from tests.conftest import BIN, ProjectFactory, alive, git, render_and_commit, run_cli

TRAIN = """\
import sys, time

args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
x = float(args["x"])
time.sleep(0.15 + (x + 1) / 4)  # 0.15 to 0.65 s: kills land mid-trial
print(f"accuracy={1 - (x - 0.2) ** 2:.6f}")
"""

SPEC = """\
from generator import SearchSpace, container, double, experiment, job, maximize, tpe

space = SearchSpace(x=double(-1.0, 1.0))
crashy = experiment(
    "crashy",
    objective=maximize("accuracy"),
    algorithm=tpe(random_state=5),
    parameters=space,
    max_trial_count=10,
    parallel_trial_count=3,
    trial=job(container(image="t:1", command=["python", "train.py"], args=space.cli_args())),
)
"""


def project(make_project: ProjectFactory) -> Path:
    root = make_project({"spec/crashy.py": SPEC, "train.py": TRAIN})
    render_and_commit(root)
    return root


def trial_processes(root: Path) -> list[int]:
    """Live processes running this project's train.py."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            state = (entry / "stat").read_text().split()[2]
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"train.py" in command and cwd == str(root) and state != "Z":
            found.append(int(entry.name))
    return found


def start_controller(root: Path, start: str = "--cold") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "hpo-controller"), "run", "--env", "dev", start],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_at_random(root: Path, rng: random.Random) -> int | None:
    """Start the controller, SIGKILL it after a random moment; its exit code if it ended."""
    process = start_controller(root)
    try:
        return process.wait(timeout=rng.uniform(0.5, 3.0))
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return None


def assert_no_orphans(root: Path) -> None:
    deadline = time.monotonic() + 10
    while trial_processes(root):
        assert time.monotonic() < deadline, (
            f"trials outlived the controller: {trial_processes(root)}"
        )
        time.sleep(0.05)


def check_final(root: Path) -> dict:  # type: ignore[type-arg]
    document = yamlio.load((root / "status/dev/crashy.yaml").read_text())
    status, trials = document["status"], document["trials"]
    assert status["conditions"][-1]["reason"] == "ExperimentMaxTrialsReached"
    assert status["trials"] == len(trials) == 10
    assert status["trialsSucceeded"] == 10
    names = [t["name"] for t in trials]
    assert len(set(names)) == 10
    assert len({str(t["parameterAssignments"]) for t in trials}) == 10
    return document  # type: ignore[no-any-return]


def survive(root: Path, seed: int, kills: int) -> int:
    rng = random.Random(seed)
    killed = 0
    for _ in range(kills):
        code = kill_at_random(root, rng)
        assert_no_orphans(root)
        if code is not None:
            assert code == 0
            return killed
        killed += 1
    final = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert final.returncode == 0, final.stderr
    return killed


def running_trials(root: Path) -> int:
    path = root / "status/dev/crashy.yaml"
    try:
        document = yamlio.load(path.read_text())
    except (OSError, yamlio.YAMLError):
        return 0
    return sum(1 for t in document.get("trials", []) if t["state"] == "Running")


def test_a_killed_controller_resumes_without_losing_or_repeating_trials(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project)
    process = start_controller(root)
    deadline = time.monotonic() + 60
    while running_trials(root) == 0:  # kill it while trials run
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert_no_orphans(root)
    final = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert final.returncode == 0, final.stderr
    document = check_final(root)
    restarted = [t for t in document["trials"] if t.get("restarts")]
    assert restarted and all(t["restarts"] == 1 for t in restarted)
    assert all(t["reason"] == "TrialSucceeded" for t in restarted)
    log = git(root, "log", "--format=%s", "--", "status/dev/crashy.yaml").splitlines()
    assert all(subject.endswith("[skip ci]") for subject in log)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_many_random_kills(make_project: ProjectFactory, seed: int) -> None:
    root = project(make_project)
    survive(root, seed=seed, kills=6)
    check_final(root)


DETACHING = """\
import os, subprocess, sys, time

# A helper in a session of its own: out of the trial's process group.
helper = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
)
with open(f"helper-{os.getpid()}.pid", "w") as out:
    out.write(str(helper.pid))
time.sleep(60)
"""

DETACHING_SPEC = """\
from generator import SearchSpace, container, double, experiment, job, maximize, random_search

space = SearchSpace(x=double(0.0, 1.0))
detaching = experiment(
    "detaching",
    objective=maximize("accuracy"),
    algorithm=random_search(random_state=1),
    parameters=space,
    max_trial_count=2,
    parallel_trial_count=2,
    trial=job(container(image="t:1", command=["python", "detach.py"], args=space.cli_args())),
)
"""


def test_what_a_trial_started_in_a_session_of_its_own_dies_with_the_controller(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/detaching.py": DETACHING_SPEC, "detach.py": DETACHING})
    render_and_commit(root)
    process = start_controller(root)
    pids = written_pids(root, "helper-*.pid", 2, process)
    assert all(alive(pid) for pid in pids)
    kill_and_expect_gone(process, pids)


SLEEPER = """\
import os, time

with open(f"trial-{os.getpid()}.pid", "w") as out:
    out.write(str(os.getpid()))
time.sleep(60)
"""


def test_warm_trials_die_with_a_killed_controller(make_project: ProjectFactory) -> None:
    spec = DETACHING_SPEC.replace(
        'command=["python", "detach.py"]', 'command=["python", "-m", "sleeper"]'
    )
    root = make_project({"spec/detaching.py": spec, "sleeper.py": SLEEPER})
    render_and_commit(root)
    process = start_controller(root, "--warm")
    pids = written_pids(root, "trial-*.pid", 2, process)
    assert all(alive(pid) for pid in pids)
    assert all(parent_of(pid) != process.pid for pid in pids)  # forked by the warm pool
    kill_and_expect_gone(process, pids)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def written_pids(
    root: Path, pattern: str, count: int, process: subprocess.Popen[bytes]
) -> list[int]:
    """The pids that `count` files matching `pattern` hold, once the trials wrote them."""
    deadline = time.monotonic() + 60
    while len(files := list(root.glob(pattern))) < count or not all(f.read_text() for f in files):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    return [int(f.read_text()) for f in files]


def kill_and_expect_gone(process: subprocess.Popen[bytes], pids: list[int]) -> None:
    """SIGKILL the controller; these processes must be gone within 10 s."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while running := [pid for pid in pids if alive(pid)]:
        assert time.monotonic() < deadline, f"outlived the controller: {running}"
        time.sleep(0.02)
