"""ENAS against random architectures on the bundled digits: for each seed, the ENAS
controller (`controller.algorithms.enas`, the katib-enas example's settings and search
space) and uniformly random architectures from the same space each get the same number of
trials, two at a time as in the example; every architecture is trained the same way
(`trainers.nas`: 1 epoch of Adam, batch 32, the same weight seed), so an architecture's
accuracy does not depend on who proposed it, and one trained already is not trained again.

    python bench/enas_search.py [--seeds 5] [--trials 20] [--epochs 1]

Per seed it prints the best validation accuracy ENAS found, the best random search found
with the same number of trials, and the median accuracy of the random architectures; then
the medians over the seeds, and the mean accuracy of the last half of each search's trials
(what the policy proposes once it has learnt).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import mean, median

import torch

from controller.algorithms.enas import EnasSuggester
from generator.katib.nas import enas_assignments

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's spec/
from spec.nas import enas_search
from trainers import datasets
from trainers.enas_child import parse, read_json
from trainers.nas import fitted, train_child

Trial = tuple[tuple[str, str], ...]


class Evaluator:
    """Validation accuracy of an architecture, trained once."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.split = fitted(datasets.digits(0), 8, 8, 1)
        self.known: dict[str, float] = {}
        self.trained = 0

    def __call__(self, assignments: Trial) -> float:
        values = dict(assignments)
        key = values["architecture"]
        if key not in self.known:
            config = parse(
                read_json(values["architecture"], "architecture"),
                read_json(values["nn_config"], "nn_config"),
            )
            *_, last = train_child(config, self.split, self.epochs, 32, 1e-3, seed=0)
            self.known[key] = last["Validation-Accuracy"]
            self.trained += 1
        return self.known[key]


def search(suggester: EnasSuggester, evaluate: Evaluator, trials: int) -> list[float]:
    found: list[float] = []
    while len(found) < trials:
        for assignments in suggester.suggest(min(2, trials - len(found))):
            value = evaluate(assignments)
            found.append(value)
            suggester.observe(assignments, value)
    return found


def random_search(seed: int, evaluate: Evaluator, trials: int) -> list[float]:
    """Architectures drawn uniformly: each layer's choice, then each skip bit, at random."""
    reference = controller(seed)
    rng = torch.Generator().manual_seed(seed)
    found: list[float] = []
    seen: set[str] = set()
    while len(found) < trials:
        layers = []
        for layer in range(reference.num_layers):
            choice = int(torch.randint(len(reference.space), (1,), generator=rng))
            layers.append([choice, *torch.randint(2, (layer,), generator=rng).tolist()])
        assignments = enas_assignments(layers, reference.graph, reference.space)
        if assignments[0][1] not in seen:
            seen.add(assignments[0][1])
            found.append(evaluate(assignments))
    return found


def controller(seed: int) -> EnasSuggester:
    spec = enas_search.spec
    assert spec.nas_config is not None and spec.nas_config.graph_config is not None
    settings = {s.name: s.value for s in spec.algorithm.algorithm_settings or []}  # type: ignore[union-attr]
    return EnasSuggester(
        spec.nas_config.graph_config, spec.nas_config.operations or [], settings, "maximize", seed
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(2)
    evaluate = Evaluator(args.epochs)
    started = time.perf_counter()
    rows = []
    print(f"{'seed':>4} {'ENAS best':>10} {'random best':>12} {'random median':>14}")
    for seed in range(args.seeds):
        enas = search(controller(seed), evaluate, args.trials)
        rand = random_search(1000 + seed, evaluate, args.trials)
        rows.append((enas, rand))
        print(f"{seed:>4} {max(enas):>10.4f} {max(rand):>12.4f} {median(rand):>14.4f}")
    half = args.trials // 2
    summary = {
        "ENAS best": median(max(e) for e, _ in rows),
        "random best": median(max(r) for _, r in rows),
        "random median": median(median(r) for _, r in rows),
        "ENAS last-half mean": median(mean(e[half:]) for e, _ in rows),
        "random last-half mean": median(mean(r[half:]) for _, r in rows),
    }
    print(f"medians over {args.seeds} seeds of {args.trials} trials each:")
    for name, value in summary.items():
        print(f"  {name:22} {value:.4f}")
    wins = sum(max(e) > median(r) for e, r in rows)
    print(f"ENAS best beats the random median in {wins} of {args.seeds} seeds")
    print(
        f"{evaluate.trained} architectures trained in {time.perf_counter() - started:.0f} s "
        f"({json.dumps({'epochs': args.epochs})})"
    )


if __name__ == "__main__":
    main()
