"""End to end: `hpo-controller run` of katib-random-search-mnist (9 trials, 3 at a time)
with warm trial starts and with cold ones, each in a fresh copy of this repository, in the
same run. Wall time of the whole command, kustomize build and git commit included.

    python bench/end_to_end.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXPERIMENT = "katib-random-search-mnist"


def scratch_repository() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-e2e-")) / "repo"
    root.mkdir()
    for folder in ("spec", "overlays"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "add", "--all"], check=True)
    for key, value in (("user.name", "bench"), ("user.email", "bench@localhost")):
        subprocess.run([*git, "config", key, value], check=True)  # the controller commits too
    subprocess.run([*git, "commit", "--quiet", "-m", "bench"], check=True)
    return root


def run_seconds(mode: str) -> float:
    root = scratch_repository()
    command = [
        str(BIN / "hpo-controller"),
        "run",
        "--env",
        "dev",
        "--experiment",
        EXPERIMENT,
        f"--{mode}",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{result.stderr}")
    shutil.rmtree(root.parent)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    repeats = parser.parse_args().repeats
    cold, warm = [], []
    for _ in range(repeats):
        cold.append(run_seconds("cold"))
        warm.append(run_seconds("warm"))
    cold_median, warm_median = statistics.median(cold), statistics.median(warm)
    print(f"{EXPERIMENT}, 9 trials, 3 in parallel, {repeats} run(s) each")
    print(f"cold (baseline): {cold_median:.1f} s")
    print(f"warm: {warm_median:.1f} s")
    print(f"speed-up: {cold_median / warm_median:.2f}x")


if __name__ == "__main__":
    main()
