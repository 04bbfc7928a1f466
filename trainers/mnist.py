"""An MLP classifier of handwritten digits, tuned by hpo-gen's MNIST experiments.

The embedded data set is scikit-learn's bundled 8x8 digits (no download). Every epoch
prints one Katib StdOut line: `epoch=3 loss=0.1234 accuracy=0.9567`, where accuracy is
measured on a held-out validation split.

    python -m trainers.mnist --lr=0.03 --batch-size=64 --epochs=5 --seed=1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from trainers.metricline import format_metrics

VALIDATION_FRACTION = 0.2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainers.mnist", description=__doc__)
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per step")
    parser.add_argument("--epochs", type=int, default=5, help="passes over the training data")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the weights")
    parser.add_argument("--hidden-size", type=int, default=128, help="units of the hidden layer")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    for name in ("lr", "batch_size", "epochs", "hidden_size", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be greater than 0")
    return args


def load_digits_split(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as float tensors in [0, 1], split into train and validation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy((digits.data / 16.0).astype(np.float32))
    labels = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = int(len(labels) * (1 - VALIDATION_FRACTION))
    train, valid = order[:cut], order[cut:]
    return images[train], labels[train], images[valid], labels[valid]


def build_model(inputs: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train, x_valid, y_valid = load_digits_split(args.seed)
    model = build_model(x_train.shape[1], args.hidden_size, int(y_train.max()) + 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(y_train), generator=shuffle)
        total = 0.0
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_valid).argmax(dim=1) == y_valid).float().mean().item()
        print(format_metrics(epoch=epoch, loss=total / len(y_train), accuracy=accuracy), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
