"""pbt under hpo-controller run: every trial starts from a copy of its parent's checkpoint
folder, seen at the `suggestion_trial_dir` path, also after the controller is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from generator.files import yamlio
from tests.conftest import BIN, ProjectFactory, render_and_commit, run_cli

# One "epoch" per trial, continuing the checkpoint: steps counts the epochs behind the
# model, so a child reports its parent's steps + 1.
TRAIN = """\
import json, sys, time
from pathlib import Path

args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
folder = Path(args["checkpoint"])
saved = folder / "state.json"
state = json.loads(saved.read_text()) if saved.exists() else {"steps": 0, "skill": 0.0}
lr = float(args["lr"])
time.sleep(0.2)
state["steps"] += 1
state["skill"] += 1 - abs(lr - 0.05) * 10
saved.write_text(json.dumps(state))
print(f"steps={state['steps']} accuracy={state['skill'] / 10:.6f}")
"""

SPEC = """\
from generator import SearchSpace, container, double, experiment, job, maximize, pbt

space = SearchSpace(lr=double(0.01, 0.1, step=0.01))
evolve = experiment(
    "evolve",
    objective=maximize("accuracy", additional_metrics=["steps"]),
    algorithm=pbt(suggestion_trial_dir="/ckpt/", n_population=5, truncation_threshold=0.4,
                  random_state=3),
    parameters=space,
    max_trial_count=20,
    parallel_trial_count=3,
    resume_policy="FromVolume",
    trial=job(container(image="t:1", command=["python", "train.py"],
                        args=[*space.cli_args(), "--checkpoint=/ckpt/"])),
)
"""


def project(make_project: ProjectFactory) -> Path:
    root = make_project({"spec/evolve.py": SPEC, "train.py": TRAIN})
    render_and_commit(root)
    return root


def check_lineage(root: Path) -> list[dict]:  # type: ignore[type-arg]
    document = yamlio.load((root / "status/dev/evolve.yaml").read_text())
    trials = document["trials"]
    assert document["status"]["conditions"][-1]["reason"] == "ExperimentMaxTrialsReached"
    assert len(trials) == 20 and all(t["state"] == "Succeeded" for t in trials)
    steps = {
        t["name"]: next(m["latest"] for m in t["metrics"] if m["name"] == "steps") for t in trials
    }
    generations = set()
    for trial in trials:
        labels = trial["labels"]
        generation = int(labels["pbt.suggestion.katib.kubeflow.org/generation"])
        generations.add(generation)
        parent = labels.get("pbt.suggestion.katib.kubeflow.org/parent")
        if generation == 0:
            assert parent is None and steps[trial["name"]] == 1
        else:
            assert steps[trial["name"]] == steps[parent] + 1, trial["name"]
    assert max(generations) >= 2
    for trial in trials:  # each folder is the trial's own, under the experiment's volume
        state = root / ".hpo/volumes/dev/evolve" / trial["name"] / "state.json"
        assert yamlio.load(state.read_text())["steps"] == steps[trial["name"]]
    return trials  # type: ignore[no-any-return]


def test_children_continue_their_parents_checkpoints(make_project: ProjectFactory) -> None:
    root = project(make_project)
    result = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert result.returncode == 0, result.stderr
    check_lineage(root)
    assert not (root / "ckpt").exists() and not Path("/ckpt").exists()


def test_a_killed_controller_resumes_the_population(make_project: ProjectFactory) -> None:
    root = project(make_project)
    process = subprocess.Popen(
        [str(BIN / "hpo-controller"), "run", "--env", "dev", "--cold"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    status = root / "status/dev/evolve.yaml"
    deadline = time.monotonic() + 60
    while True:  # kill it in the second generation, with trials running
        assert time.monotonic() < deadline and process.poll() is None
        if status.exists():
            trials = yamlio.load(status.read_text()).get("trials", [])
            if len(trials) >= 7 and any(t["state"] == "Running" for t in trials):
                break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    final = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert final.returncode == 0, final.stderr
    trials = check_lineage(root)
    assert any(t.get("restarts") for t in trials)
