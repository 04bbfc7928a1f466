"""What hpo-controller tells its user is true and names the next step: how a finished
experiment ended, why a raised budget does not continue it, overlays older than their
spec, what Ctrl-C kept, and why a trial failed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from generator.files import yamlio
from tests.conftest import BIN, ProjectFactory, git, render_and_commit, run_cli
from tests.controller.test_run_end_to_end import SPEC, TRAIN, project, status_of


def test_a_failed_experiment_is_said_to_have_failed_not_to_be_complete(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project, max_failed=2, extra="'--fail-above=-2'")
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 1
    again = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert again.returncode == 1
    assert "already complete" not in again.stdout
    assert "quadratic: already ended for this spec: Failed (ExperimentFailed:" in again.stdout
    assert "status/dev/quadratic.md" in again.stdout
    assert "hpo-controller run --env dev --experiment quadratic --rerun" in again.stdout


def test_a_raised_budget_under_resume_policy_never_says_what_keeps_it_finished(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project)
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 0
    source = (root / "spec/quadratic.py").read_text()
    (root / "spec/quadratic.py").write_text(
        source.replace("max_trial_count=6,", "max_trial_count=9,")
    )
    render_and_commit(root)
    again = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert again.returncode == 0
    said = again.stdout.replace("\n", " ")
    assert "its maxTrialCount is now 9, but resumePolicy Never keeps a finished experiment" in said
    assert "resume_policy='LongRunning'" in said and "--rerun" in said
    assert len(status_of(root)["trials"]) == 6


def test_overlays_older_than_their_spec_are_refused_with_the_command_to_run(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project)
    source = (root / "spec/quadratic.py").read_text()
    (root / "spec/quadratic.py").write_text(source.replace("random_state=7", "random_state=8"))
    git(root, "commit", "--quiet", "--all", "--message", "change the spec, not the overlays")
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 1
    assert "overlays/ is older than spec/" in result.stderr
    assert "run `hpo-gen render`, commit overlays/, and run again" in result.stderr
    assert not (root / "status").exists()  # nothing ran


SLOW_TRAIN = """\
import sys, time
args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
if float(args["x"]) > 0:
    time.sleep(60)
print(f"accuracy={float(args['x']):.6f}")
"""


def test_ctrl_c_keeps_the_finished_trials_and_says_how_to_resume(
    make_project: ProjectFactory,
) -> None:
    source = SPEC.format(goal="", max_failed=6, extra="'--q=1'").replace(
        "max_trial_count=6,", "max_trial_count=12,"
    )
    root = make_project({"spec/quadratic.py": source, "train.py": SLOW_TRAIN})
    render_and_commit(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    controller = subprocess.Popen(
        [str(BIN / "hpo-controller"), "run", "--env", "dev"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    logs = root / ".hpo/logs/dev/quadratic"
    while time.monotonic() < deadline and len(list(logs.glob("*.log"))) < 4:
        time.sleep(0.1)  # two slow trials hold the slots once a few have run
    time.sleep(1.0)
    controller.send_signal(signal.SIGINT)
    _, err = controller.communicate(timeout=60)
    assert controller.returncode == 130, err
    assert "Traceback" not in err
    assert "stopped by SIGINT: quadratic keeps" in err
    assert "run again when it resumes: `hpo-controller run --env dev`" in err
    status = yamlio.load((root / "status/dev/quadratic.yaml").read_text())
    states = [t["state"] for t in status["trials"]]
    assert "Running" in states  # the interrupted ones, to run again
    assert "Killed" not in states and "Failed" not in states
    assert git(root, "status", "--porcelain", "--", "status") == ""  # committed


def test_a_failed_trial_s_line_says_why(make_project: ProjectFactory) -> None:
    failing = TRAIN.replace(
        "    sys.exit(3)", "    print('CUDA out of memory', file=sys.stderr)\n    sys.exit(3)"
    )
    source = SPEC.format(goal="", max_failed=2, extra="'--fail-above=-2'")
    root = make_project({"spec/quadratic.py": source, "train.py": failing})
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if " Failed: " in line]
    assert failed, result.stderr
    assert "exit code 3; its output ends: CUDA out of memory" in failed[0]
    missing = SPEC.format(goal="", max_failed=1, extra="'--q=1'").replace(
        'command=["python", "train.py"]', 'command=["no-such-trainer"]'
    )
    (root / "spec/quadratic.py").write_text(missing)
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", "--rerun", cwd=root)
    assert "exit code 127; its output ends: cannot start 'no-such-trainer'" in result.stderr
    assert Path(root / "train.py").exists()
