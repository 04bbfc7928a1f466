"""Trial start: median time from "start trial" to the trainer's first output line, for
`python -m trainers.mnist` started warm (forked from the zygote) and cold (a fresh
interpreter), in the same run on the same machine.

    python bench/trial_start.py [--repeats 9] [--against REV]

Warm and cold starts alternate, so both see the same load. `--against REV` measures the
executor of another revision of this repository (exported from git) the same way, in
turns with this checkout's, so that two versions are compared on the same machine at the
same time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from revisions import exported

PROJECT = Path(__file__).resolve().parent.parent

# One round of measurements, run in a fresh interpreter that imports hpo-gen from the
# tree named on its command line (the module paths of older revisions are tried second).
MEASURE = """\
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
try:
    from controller.core.trialspec import Command
    from controller.executors.local.executor import LocalExecutor
    from controller.executors.local.warmstart import WarmPool
except ImportError:
    from controller.trialspec import Command
    from controller.local import LocalExecutor
    from controller.warmstart import WarmPool

COMMAND = Command(("python", "-m", "trainers.mnist", "--epochs=1", "--seed=1"), (), None)


def first_line_seconds(executor, name):
    started = time.perf_counter()
    log = executor.start(name, COMMAND)
    while b"\\n" not in log.read_bytes():
        time.sleep(0.0005)
    elapsed = time.perf_counter() - started
    exited = executor.next_exit(timeout=120)
    assert exited is not None and exited.exit_code == 0, log.read_text()
    return elapsed


workdir = Path(tempfile.mkdtemp(prefix="bench-start-"))
pool = WarmPool()
started = time.perf_counter()
pool.start()
pool._ready.wait()  # the steady state; the one-time start is reported apart
zygote = time.perf_counter() - started
warm = LocalExecutor(workdir, workdir / "warm", warm=pool)
cold = LocalExecutor(workdir, workdir / "cold")
warm_times, cold_times = [], []
for index in range(int(sys.argv[2])):
    warm_times.append(first_line_seconds(warm, f"warm-{index}"))
    cold_times.append(first_line_seconds(cold, f"cold-{index}"))
for executor in (warm, cold):
    executor.shutdown()
pool.close()
print(json.dumps({"warm": warm_times, "cold": cold_times, "zygote": zygote}))
"""


@dataclass(frozen=True)
class Starts:
    warm: list[float]
    cold: list[float]
    zygote: float  # the zygote's one-time start


def measure(tree: Path, repeats: int) -> Starts:
    """Warm and cold start times of the executor in `tree`."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment["PYTHONPATH"] = str(tree)  # the trials import the trainers from it too
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tree), str(repeats)],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    answer = json.loads(result.stdout.splitlines()[-1])
    return Starts(answer["warm"], answer["cold"], answer["zygote"])


def report(label: str, runs: list[Starts]) -> None:
    warm = statistics.median(t for run in runs for t in run.warm)
    cold = statistics.median(t for run in runs for t in run.cold)
    zygote = statistics.median(run.zygote for run in runs)
    print(
        f"{label}: cold (baseline) median {cold * 1000:.0f} ms, warm median "
        f"{warm * 1000:.0f} ms, speed-up {cold / warm:.1f}x (target: at least 10x); "
        f"one-time zygote start {zygote:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--against", metavar="REV", help="also measure this git revision")
    options = parser.parse_args()
    print(f"repeats: {options.repeats} of each, warm and cold alternating")
    if options.against is None:
        report("this checkout", [measure(PROJECT, options.repeats)])
        return
    with tempfile.TemporaryDirectory(prefix="bench-start-tree-") as folder:
        baseline = exported(options.against, Path(folder))
        # in turns, each version twice, so that neither always runs on a warmer machine
        runs: dict[str, list[Starts]] = {"this checkout": [], options.against: []}
        for label, tree in (("this checkout", PROJECT), (options.against, baseline)) * 2:
            runs[label].append(measure(tree, options.repeats))
    for label, measured in runs.items():
        report(label, measured)


if __name__ == "__main__":
    main()
