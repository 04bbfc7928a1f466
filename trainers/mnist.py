"""A classifier of handwritten digits, tuned by hpo-gen's MNIST experiments: an MLP or a
CNN, trained on in-memory tensors (no per-sample Python work), the MLP with a hand-written
training step (trainers/fastmlp.py). The embedded data set is scikit-learn's bundled 8x8
digits; `--data-dir` reads real MNIST IDX files; `--checkpoint-dir` continues training.

Every epoch prints one Katib StdOut line, `epoch=3 loss=0.1234 accuracy=0.9567` (loss on
the training data, accuracy on the validation data), and appends it to `--metrics-file`
when given (TEXT lines, or JSON lines for Katib's File collector).

    python -m trainers.mnist --model=cnn --optimizer=adam --lr=0.003 --epochs=5
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from trainers import datasets, networks
from trainers.fastmlp import FlatMLP
from trainers.reporting import MetricsFile, print_metrics


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m trainers.mnist",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--optimizer", choices=["sgd", "adam", "rmsprop"], default="sgd")
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate")
    parser.add_argument("--momentum", type=float, default=0.9, help="for sgd and rmsprop")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per step")
    parser.add_argument("--epochs", type=int, default=5, help="passes over the training data")
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout probability")
    parser.add_argument("--hidden-size", type=int, default=128, help="units per hidden layer")
    parser.add_argument("--num-layers", type=int, default=1, help="hidden or conv layers")
    parser.add_argument("--activation", choices=sorted(networks.ACTIVATIONS), default="relu")
    parser.add_argument(
        "--weight-init", choices=["default", "xavier", "kaiming", "normal"], default="default"
    )
    parser.add_argument(
        "--early-stopping-patience",
        type=int,
        default=0,
        help="stop after this many epochs without a better validation accuracy (0: never)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the weights")
    parser.add_argument("--data-dir", type=Path, help="MNIST IDX files (default: bundled digits)")
    parser.add_argument("--metrics-file", type=Path, help="also append metrics to this file")
    parser.add_argument("--metrics-format", choices=["text", "json"], default="text")
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        help="continue from the checkpoint here, if any, and save one after each epoch "
        "(for pbt: each trial starts from its parent's folder)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    for name in ("lr", "batch_size", "epochs", "hidden_size", "num_layers", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be greater than 0")
    if not 0 <= args.dropout < 1:
        parser.error("--dropout must be in [0, 1)")
    if args.momentum < 0 or args.early_stopping_patience < 0:
        parser.error("--momentum and --early-stopping-patience must not be negative")
    return args


def build(args: argparse.Namespace, split: datasets.Split) -> tuple[nn.Module, datasets.Split]:
    """The model, and the data in the shape it takes: the MLP gets images flattened once."""
    if args.model == "cnn":
        model = networks.cnn(
            split.train_x.shape[-1],
            args.hidden_size,
            args.num_layers,
            split.classes,
            args.activation,
            args.dropout,
        )
    else:
        split = split.flattened()
        model = networks.mlp(
            split.train_x.shape[1],
            args.hidden_size,
            args.num_layers,
            split.classes,
            args.activation,
            args.dropout,
        )
    networks.initialize(model, args.weight_init)
    return model, split


class AutogradFitter:
    """The CNN's training step: autograd and a torch.optim optimizer."""

    def __init__(self, model: nn.Module, optimizer: str, lr: float, momentum: float) -> None:
        self.model = model
        self.optimizer = networks.optimizer(optimizer, list(model.parameters()), lr, momentum)
        self.lr = lr

    def state(self) -> dict[str, object]:
        return dict(self.optimizer.state_dict())

    def load(self, state: dict[str, object]) -> None:
        """Continue from `state()` with this run's learning rate."""
        self.optimizer.load_state_dict(state)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def epoch(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        generator: torch.Generator,
    ) -> float:
        """One pass in shuffled batches sliced from the tensors; the mean training loss."""
        self.model.train()
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(self.model(images[batch]), labels[batch])
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            total += loss.item() * len(batch)
        return total / len(labels)


def fitter(args: argparse.Namespace, model: nn.Module) -> FlatMLP | AutogradFitter:
    """The MLP trains with the hand-written step (trainers/fastmlp.py), the CNN with autograd."""
    if args.model == "mlp":
        return FlatMLP(model, args.activation, args.dropout, args.optimizer, args.lr, args.momentum)
    return AutogradFitter(model, args.optimizer, args.lr, args.momentum)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 4096):
            logits = model(images[start : start + 4096])
            correct += int((logits.argmax(dim=1) == labels[start : start + 4096]).sum())
    return correct / len(labels)


CHECKPOINT = "mnist.pt"


class CheckpointError(Exception):
    pass


def resume(folder: Path, model: nn.Module, fit: FlatMLP | AutogradFitter) -> int:
    """Load the checkpoint in `folder` into the model and its optimizer; the epochs it has
    trained (0 without a checkpoint)."""
    path = folder / CHECKPOINT
    if not path.exists():
        return 0
    try:
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["model"])
        fit.load(saved["optimizer"])
    except (RuntimeError, ValueError, KeyError, EOFError, OSError) as err:
        raise CheckpointError(
            f"cannot continue from {path}: {err}; it was saved by another model or "
            "optimizer (same --model, --hidden-size, --num-layers and --optimizer needed)"
        ) from err
    return int(saved["epoch"])


def save(folder: Path, model: nn.Module, fit: FlatMLP | AutogradFitter, epoch: int) -> None:
    """Write the checkpoint whole or not at all: a trial killed while saving leaves the
    previous one."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{CHECKPOINT}.partial"
    torch.save({"model": model.state_dict(), "optimizer": fit.state(), "epoch": epoch}, partial)
    partial.replace(folder / CHECKPOINT)


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    split = datasets.mnist(args.data_dir) if args.data_dir else datasets.digits(args.seed)
    model, split = build(args, split)
    fit = fitter(args, model)
    done = resume(args.checkpoint_dir, model, fit) if args.checkpoint_dir else 0
    metrics_file = (
        MetricsFile(args.metrics_file, args.metrics_format) if args.metrics_file else None
    )
    shuffle = torch.Generator().manual_seed(args.seed + done)
    best, stale = -1.0, 0
    for epoch in range(done + 1, done + args.epochs + 1):
        loss = fit.epoch(split.train_x, split.train_y, args.batch_size, shuffle)
        valid = accuracy(model, split.valid_x, split.valid_y)
        if args.checkpoint_dir:
            save(args.checkpoint_dir, model, fit, epoch)
        print_metrics(epoch=epoch, loss=loss, accuracy=valid)
        if metrics_file is not None:
            metrics_file.write(epoch=epoch, loss=loss, accuracy=valid)
        best, stale = (valid, 0) if valid > best else (best, stale + 1)
        if args.early_stopping_patience and stale >= args.early_stopping_patience:
            print(f"early stopping: no better accuracy for {stale} epochs", file=sys.stderr)
            break


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except (datasets.DataError, CheckpointError) as err:
        print(f"python -m trainers.mnist: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
