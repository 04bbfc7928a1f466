"""Loop overhead: `hpo-controller run` of 200 trials of a trivial command
(`python -c "print('accuracy=0.5')"`) at parallelism 2, against the floor measured in the
same run: the same 200 processes run back to back, two at a time, by a bare script.

    python bench/loop_overhead.py [--trials 200] [--rounds 3]

Each round runs the controller between two runs of the floor and divides by their mean;
the figures are the medians of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from generator import yamlio

BIN = Path(sys.executable).parent
CODE = "print('accuracy=0.5')"
SPEC = """\
from generator import SearchSpace, container, double, environment, experiment, job, maximize
from generator import random_search

dev = environment("dev", namespace="hpo-dev")
space = SearchSpace(x=double(0.0, 1.0))
trivial = experiment(
    "trivial",
    objective=maximize("accuracy"),
    algorithm=random_search(random_state=1),
    parameters=space,
    max_trial_count={trials},
    parallel_trial_count=2,
    trial=job(container(image="t:1", command=["python", "-c", {code!r}], args=space.cli_args())),
)
"""


def controller_seconds(trials: int) -> tuple[float, float, float]:
    """The whole `hpo-controller run`, its run loop alone (from the experiment's startTime
    to its completionTime as the controller recorded them in the status), and the CPU
    time of the command with everything it started (trials, kustomize, git)."""
    root = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    (root / "spec").mkdir()
    (root / "spec" / "__init__.py").write_text("")
    (root / "spec" / "trivial.py").write_text(SPEC.format(trials=trials, code=CODE))
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([str(BIN / "hpo-gen"), "render"], cwd=root, check=True, capture_output=True)
    subprocess.run([*git, "add", "--all"], check=True)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, *identity, "commit", "--quiet", "-m", "bench"], check=True)
    cpu = children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "hpo-controller"), "run", "--env", "dev", "--cold"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    cpu = children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    status = yamlio.load((root / "status" / "dev" / "trivial.yaml").read_text())["status"]
    loop = seconds(status["completionTime"]) - seconds(status["startTime"])
    shutil.rmtree(root)
    return elapsed, loop, cpu


def children_cpu() -> float:
    """User and system CPU seconds of this process's finished children, theirs included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seconds(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def floor_seconds(trials: int) -> tuple[float, float]:
    """Wall and CPU time of the bare script's 200 processes."""

    def one(index: int) -> None:
        subprocess.run(
            [sys.executable, "-c", CODE, f"--x={index / trials}"], capture_output=True, check=True
        )

    cpu = children_cpu()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, range(trials)))
    return time.perf_counter() - started, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    trials = options.trials
    # As installed (pip, the image), hpo-gen's modules have their bytecode compiled; a
    # checkout run with PYTHONDONTWRITEBYTECODE would compile them at every start.
    for package in ("generator", "controller", "trainers"):
        compileall.compile_dir(Path(importlib.import_module(package).__path__[0]), quiet=1)
    floors, controllers, loops, added = [], [], [], []
    floor, floor_cpu = floor_seconds(trials)
    for _ in range(options.rounds):
        whole, loop, cpu = controller_seconds(trials)
        after, after_cpu = floor_seconds(trials)
        # The floor of a round: the mean of the floors measured just before and just after
        # the controller, so that a machine whose speed drifts skews neither side.
        floors.append((floor + after) / 2)
        controllers.append(whole / floors[-1])
        loops.append(loop / floors[-1])
        added.append(cpu - (floor_cpu + after_cpu) / 2)
        floor, floor_cpu = after, after_cpu
    print(
        f"{trials} trials of python -c {CODE!r}, 2 at a time; medians of {options.rounds} "
        "rounds (each against the floors measured just before and after it)"
    )
    print(f"floor (bare script): {median(floors):.2f} s")
    print(
        f"hpo-controller run: {median(controllers):.2f}x the floor, "
        f"{(median(controllers) - 1) * 100:.0f}% over (the whole command: interpreter "
        "start, imports, kustomize build, final commit)"
    )
    print(
        f"its run loop: {median(loops):.2f}x the floor, {(median(loops) - 1) * 100:.0f}% over "
        "(startTime to completionTime in the status)"
    )
    print(
        "per round, whole / loop: "
        + ", ".join(f"{w:.2f}/{lp:.2f}" for w, lp in zip(controllers, loops, strict=True))
    )
    print(
        f"CPU the controller adds to the trials': {median(added):.2f} s "
        f"({median(added) / trials * 1000:.1f} ms a trial; its own, kustomize's and git's)"
    )
    print("target: within 10%")


if __name__ == "__main__":
    main()
