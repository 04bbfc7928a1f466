"""Trial start: median time from "start trial" to the trainer's first output line, for
`python -m trainers.mnist` started warm (forked from the zygote) and cold (a fresh
interpreter), in the same run on the same machine.

    python bench/trial_start.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from controller.core.trialspec import Command
from controller.executors.local.executor import LocalExecutor
from controller.executors.local.warmstart import WarmPool

COMMAND = Command(("python", "-m", "trainers.mnist", "--epochs=1", "--seed=1"), (), None)


def first_line_seconds(executor: LocalExecutor, name: str) -> float:
    started = time.perf_counter()
    log = executor.start(name, COMMAND)
    while b"\n" not in log.read_bytes():
        time.sleep(0.0005)
    elapsed = time.perf_counter() - started
    exited = executor.next_exit(timeout=120)
    assert exited is not None and exited.exit_code == 0, log.read_text()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    repeats = parser.parse_args().repeats
    workdir = Path(tempfile.mkdtemp(prefix="bench-start-"))
    pool = WarmPool()
    started = time.perf_counter()
    pool.start()
    pool._ready.wait()  # measure steady state; the one-time start is reported apart
    zygote_start = time.perf_counter() - started
    warm = LocalExecutor(workdir, workdir / "warm", warm=pool)
    cold = LocalExecutor(workdir, workdir / "cold")
    warm_times, cold_times = [], []
    for index in range(repeats):  # interleaved, so both see the same machine load
        warm_times.append(first_line_seconds(warm, f"warm-{index}"))
        cold_times.append(first_line_seconds(cold, f"cold-{index}"))
    pool.close()
    warm_median, cold_median = statistics.median(warm_times), statistics.median(cold_times)
    print(f"repeats: {repeats}")
    print(f"cold (baseline) median: {cold_median * 1000:.0f} ms")
    print(f"warm median: {warm_median * 1000:.0f} ms")
    print(f"speed-up: {cold_median / warm_median:.1f}x (target: at least 10x)")
    print(f"one-time zygote start (imports torch, numpy, scikit-learn): {zygote_start:.2f} s")


if __name__ == "__main__":
    main()
