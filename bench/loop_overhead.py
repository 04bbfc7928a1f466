"""Loop overhead: `hpo-controller run` of 200 trials of a trivial command
(`python -c "print('accuracy=0.5')"`) at parallelism 2, against the floor measured in the
same run: the same 200 processes run back to back, two at a time, by a bare script.

    python bench/loop_overhead.py [--trials 200] [--rounds 3] [--instructions]
                                  [--against REV]

Each round runs the controller between two runs of the floor and divides by their mean;
the figures are the medians of the rounds' ratios. `--against REV` runs the controller of
another revision of this repository (exported from git) in the same rounds, beside this
checkout's, so that two versions of the code are compared on the same machine at the same
time.

Both run under an interpreter set up as an installed hpo-gen has it: a virtual environment
that imports hpo-gen's packages from this checkout by a plain path entry. An editable
install (`make venv`) starts every Python process through its import finder, ~20 ms more
per process here, which would inflate the floor and flatter the controller.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from revisions import exported

from generator.files import yamlio

PROJECT = Path(__file__).resolve().parent.parent
# Floor and controller alike: no variable of the calling shell that changes how Python
# starts (PYTHONPATH, a start-up file).
ENVIRONMENT = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
CODE = "print('accuracy=0.5')"
SPEC = """\
from generator import SearchSpace, container, double, environment, experiment, job, maximize
from generator import random_search

dev = environment("dev", namespace="hpo-dev", experiments="*")
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


def installed_interpreter(folder: Path, source: Path = PROJECT) -> Path:
    """A virtual environment (no pip) whose interpreter imports hpo-gen from this checkout
    and its dependencies from this one's site-packages, through a `.pth` file of plain
    paths, as a `pip install .` would find them; with kubectl, `hpo-controller` and
    `hpo-gen` beside it. `source`: the checkout it imports hpo-gen from. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_path("purelib")
    Path(purelib, "hpo_gen_bench.pth").write_text(f"{source}\n{ours}\n")
    for name, module in (("hpo-controller", "controller.cli"), ("hpo-gen", "generator.cli")):
        script = folder / "bin" / name  # hpo-controller runs `hpo-gen render --check`
        script.write_text(f"#!{python}\nimport sys\nfrom {module} import main\nsys.exit(main())\n")
        script.chmod(0o755)
    (folder / "bin" / "kubectl").symlink_to(Path(sys.executable).parent / "kubectl")
    return python


def start_seconds(python: Path) -> float:
    """The interpreter's own start: `python -c pass`, the fastest of 20."""
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        subprocess.run([str(python), "-c", "pass"], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def project(trials: int) -> Path:
    """A fresh repository with the trivial experiment rendered and committed."""
    root = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    (root / "spec").mkdir()
    (root / "spec" / "__init__.py").write_text("")
    (root / "spec" / "trivial.py").write_text(SPEC.format(trials=trials, code=CODE))
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "init", "--quiet"], check=True)
    render = [sys.executable, "-c", "from generator.cli import main; main()", "render"]
    subprocess.run(render, cwd=root, check=True, capture_output=True)
    subprocess.run([*git, "add", "--all"], check=True)
    for key, value in (("user.name", "bench"), ("user.email", "bench@localhost")):
        subprocess.run([*git, "config", key, value], check=True)  # the controller commits too
    subprocess.run([*git, "commit", "--quiet", "-m", "bench"], check=True)
    return root


# The run loop of the trivial experiment in one process, logging as `hpo-controller run`
# does, status rewrites only where the loop forces them (start and end): what it executes
# then hardly depends on how fast the machine is (valgrind runs it some fifty times slower).
LOOP_ALONE = """\
from pathlib import Path
import controller.engine.loop as running
from controller.sinks.git.repo import GitRepo
from controller.engine.journal import TrialJournal
from controller.executors.local.executor import LocalExecutor
from controller.sources.overlay import read_overlay
from controller.console.progress import configure_logging
from controller.sinks.git.sink import GitStatusSink
running.SAVE_INTERVAL = 1e6
configure_logging("text", quiet=False)
root = Path.cwd()
experiment = read_overlay(root / "overlays" / "dev", "dev").experiments[0]
journal = TrialJournal(root / ".hpo" / "journal" / "trivial.jsonl", running.utc_now)
executor = LocalExecutor(root, root / ".hpo" / "logs", on_exit=journal.exited)
sink = GitStatusSink(GitRepo(root), "dev")
running.run_experiment(experiment, environment="dev", executor=executor, sink=sink,
                       journal=journal, hand_over=executor)
executor.shutdown()
"""


def loop_instructions(python: Path, trials: int) -> float | None:
    """Instructions the run loop executes per trial, counted by valgrind's callgrind: the
    difference between runs of 20 and 20 + `trials` trials, so that start-up cancels out.
    Unlike the wall time, the count hardly moves with the machine's speed or load. None
    without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    counts = []
    for size in (20, 20 + trials):
        root = project(size)
        callgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        result = subprocess.run(
            [*callgrind, str(python), "-c", LOOP_ALONE],
            cwd=root,
            env=ENVIRONMENT,
            capture_output=True,
            text=True,
            check=True,
        )
        shutil.rmtree(root)
        collected = [line for line in result.stderr.splitlines() if "Collected :" in line]
        counts.append(int(collected[-1].rsplit(":", 1)[1]))
    return (counts[1] - counts[0]) / trials


def controller_seconds(python: Path, trials: int) -> tuple[float, float, float]:
    """The whole `hpo-controller run`, its run loop alone (from the experiment's startTime
    to its completionTime as the controller recorded them in the status), and the CPU
    time of the command with everything it started (trials, kustomize, git)."""
    root = project(trials)
    cpu = children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        [str(python.parent / "hpo-controller"), "run", "--env", "dev", "--cold"],
        cwd=root,
        env=ENVIRONMENT,
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


def floor_seconds(python: Path, trials: int) -> tuple[float, float]:
    """Wall and CPU time of the bare script's 200 processes."""

    def one(index: int) -> None:
        subprocess.run(
            [str(python), "-c", CODE, f"--x={index / trials}"],
            capture_output=True,
            check=True,
            env=ENVIRONMENT,
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
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also run the controller of this git revision, in the same rounds",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the run loop's instructions per trial (valgrind; minutes)",
    )
    options = parser.parse_args()
    trials = options.trials
    with tempfile.TemporaryDirectory(prefix="bench-python-") as folder:
        python = installed_interpreter(Path(folder) / "current", compiled(PROJECT))
        baseline = None
        if options.against:
            source = exported(options.against, Path(folder) / "source")
            baseline = installed_interpreter(Path(folder) / "baseline", compiled(source))
        rounds(python, trials, options.rounds, baseline, options.against)
        if options.instructions:
            count = loop_instructions(python, trials)
            shown = "valgrind not found" if count is None else f"{count / 1e6:.2f} M"
            print(f"run loop instructions per trial (callgrind): {shown}")


def compiled(source: Path) -> Path:
    """`source`, its modules' bytecode compiled, as an installed hpo-gen (pip, the image)
    has it: a checkout run with PYTHONDONTWRITEBYTECODE would compile them at every start."""
    for package in ("generator", "controller", "trainers"):
        compileall.compile_dir(source / package, quiet=1)
    return source


def rounds(
    python: Path, trials: int, count: int, baseline: Path | None, revision: str | None
) -> None:
    floors, controllers, loops, added = [], [], [], []
    others: list[tuple[float, float]] = []
    floor, floor_cpu = floor_seconds(python, trials)
    for index in range(count):
        other: tuple[float, float, float] | None = None
        # Which goes first alternates, so that neither always runs on a warmer machine.
        first = index % 2 == 0 or baseline is None
        if not first:
            other = controller_seconds(baseline, trials) if baseline else None
        whole, loop, cpu = controller_seconds(python, trials)
        if first and baseline is not None:
            other = controller_seconds(baseline, trials)
        after, after_cpu = floor_seconds(python, trials)
        # The floor of a round: the mean of the floors measured just before and just after
        # the controller, so that a machine whose speed drifts skews neither side.
        floors.append((floor + after) / 2)
        controllers.append(whole / floors[-1])
        loops.append(loop / floors[-1])
        added.append(cpu - (floor_cpu + after_cpu) / 2)
        if baseline is not None and other is not None:
            others.append((other[0] / floors[-1], other[1] / floors[-1]))
        floor, floor_cpu = after, after_cpu
    print(
        f"{trials} trials of python -c {CODE!r}, 2 at a time; medians of {count} "
        "rounds (each against the floors measured just before and after it)"
    )
    print(f"the interpreter's own start (python -c pass): {start_seconds(python) * 1000:.0f} ms")
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
    if others:
        print(
            f"the controller of {revision}, same rounds: "
            f"{median(w for w, _ in others):.2f}x the floor (whole command), "
            f"its run loop {median(lp for _, lp in others):.2f}x; per round, whole / loop: "
            + ", ".join(f"{w:.2f}/{lp:.2f}" for w, lp in others)
        )
    print("target: within 10%")


if __name__ == "__main__":
    main()
