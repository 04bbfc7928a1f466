"""CNN against MLP: validation accuracy of `trainers.mnist`'s two models after the same
number of epochs, on the bundled 8x8 digits and on the same digits at MNIST's size
(28x28, 60,000 training images, `bench/epoch.py`'s "digits-28"), each model at the best
of the same few optimizer settings, in the same run.

    python bench/cnn_vs_mlp.py [--epochs 3] [--seed 1]

The MLP is the baseline: the CNN is to beat it at equal epochs on both sizes. Each run is
the trainer's own loop (`trainers.mnist`: its models, training steps and accuracy), with
one torch thread, as a trial has.
"""

from __future__ import annotations

import argparse
import time

import torch
from epoch import digits_28

from trainers import datasets
from trainers.mnist import accuracy, build, fitter, parse_args

SETTINGS = (
    ("adam", "0.001"),
    ("adam", "0.003"),
    ("sgd", "0.05"),
)


def run(
    model: str, optimizer: str, lr: str, split: datasets.Split, epochs: int, seed: int
) -> tuple[list[float], float]:
    """Validation accuracy after each epoch, and the seconds the epochs took."""
    args = parse_args(
        [
            "--model",
            model,
            "--optimizer",
            optimizer,
            "--lr",
            lr,
            "--epochs",
            str(epochs),
            "--seed",
            str(seed),
        ]
    )
    torch.manual_seed(seed)
    net, data = build(args, split)
    fit = fitter(args, net)
    shuffle = torch.Generator().manual_seed(seed)
    accuracies = []
    started = time.perf_counter()
    for _ in range(epochs):
        fit.epoch(data.train_x, data.train_y, args.batch_size, shuffle)
        accuracies.append(accuracy(net, data.valid_x, data.valid_y))
    return accuracies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    torch.set_num_threads(1)
    for name, split in (
        ("digits 8x8", datasets.digits(options.seed)),
        ("digits-28", digits_28(options.seed)),
    ):
        for model in ("mlp", "cnn"):
            results = []
            for optimizer, lr in SETTINGS:
                accuracies, seconds = run(model, optimizer, lr, split, options.epochs, options.seed)
                results.append((accuracies[-1], accuracies, optimizer, lr, seconds))
                print(
                    f"{name} {model} {optimizer} lr={lr}: "
                    + " ".join(f"{a:.3f}" for a in accuracies)
                    + f" ({seconds:.1f} s)",
                    flush=True,
                )
            best = max(results)
            print(
                f"{name} {model} best: {best[0]:.3f} after {options.epochs} epochs "
                f"({best[2]} lr={best[3]})",
                flush=True,
            )


if __name__ == "__main__":
    main()
