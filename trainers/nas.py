"""Neural architecture search trials: the networks Katib's NAS algorithms describe, built
and trained on CPU.

    python -m trainers.nas enas --architecture=ARC --nn_config=CONFIG [--num_epochs=N]
    python -m trainers.nas darts --algorithm-settings=S --search-space=P --num-layers=L

`enas` trains the child network of one architecture (trainers/enas_child.py) with Adam and
prints, each epoch, `Training-Accuracy=... Training-Loss=... Validation-Accuracy=...
Validation-Loss=...` as Katib's ENAS trial image does. `darts` runs the DARTS search
(trainers/darts_search.py) for the settings' `num_epochs` and prints, each epoch, the
validation accuracy and the current genotype (`Genotype=Genotype(...)`), and at the end the
genotype of the best epoch (`Best-Genotype=Genotype(...)`) as Katib's DARTS trial image
does. The arguments are the assignments exactly as Katib passes them.

Data: scikit-learn's bundled 8x8 digits by default; `--data-dir` reads CIFAR-10 (binary
version) or MNIST (IDX). Images are fitted to the network's input (resized, one channel
repeated or several averaged), so Katib's 32x32x3 examples run on the digits too.

Bad arguments (malformed JSON, an operation or primitive these trainers cannot build, a
setting that is not a number) end the trial with a message naming what is wrong and exit
status 1."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from trainers import datasets
from trainers.darts_search import (
    Architect,
    SearchSpaceError,
    Supernet,
    SupernetShape,
    check_primitives,
)
from trainers.enas_child import ChildConfig, ChildNetwork, ConfigError, parse, read_json
from trainers.reporting import print_metrics


class ArgumentError(ValueError):
    """An argument is not what the trial needs; the message says which and why."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m trainers.nas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="algorithm", required=True)
    enas = commands.add_parser("enas", help="train the child network of one architecture")
    enas.add_argument("--architecture", required=True, help="Katib's architecture assignment")
    enas.add_argument("--nn_config", "--nn-config", required=True, help="Katib's nn_config")
    enas.add_argument("--num_epochs", "--num-epochs", type=int, default=10)
    enas.add_argument("--num_gpus", "--num-gpus", type=int, default=0, help="ignored: CPU only")
    enas.add_argument("--batch-size", type=int, default=128)
    enas.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    darts = commands.add_parser("darts", help="run the DARTS search of a supernet")
    darts.add_argument("--algorithm-settings", required=True, help="Katib's algorithm-settings")
    darts.add_argument("--search-space", required=True, help="Katib's search-space")
    darts.add_argument("--num-layers", required=True, help="Katib's num-layers")
    for command in (enas, darts):
        command.add_argument("--data-dir", type=Path, help="CIFAR-10 or MNIST (default: digits)")
        command.add_argument("--seed", type=int, default=0, help="seed of the split and weights")
        command.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    for name in ("threads", "num_epochs", "batch_size", "lr"):
        if getattr(args, name, 1) <= 0:
            parser.error(f"--{name} must be greater than 0")
    return args


def load(args: argparse.Namespace) -> datasets.Split:
    return datasets.from_dir(args.data_dir) if args.data_dir else datasets.digits(args.seed)


def fit_images(images: torch.Tensor, height: int, width: int, channels: int) -> torch.Tensor:
    """Images resized to height x width (bilinear) with the channels asked for."""
    have = images.shape[1]
    if have != channels:
        if have == 1:
            images = images.expand(-1, channels, -1, -1)
        elif channels == 1:
            images = images.mean(1, keepdim=True)
        else:
            raise ArgumentError(
                f"the data has {have} channels and the network takes {channels}; "
                "only one channel can be repeated or several averaged"
            )
    if tuple(images.shape[2:]) != (height, width):
        images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)
    return images.contiguous()


def fitted(split: datasets.Split, height: int, width: int, channels: int) -> datasets.Split:
    shape = tuple(split.train_x.shape[1:])
    if shape != (channels, height, width):
        print(
            f"the data's images are {shape[1]}x{shape[2]}x{shape[0]}; fitted to the "
            f"network's {height}x{width}x{channels}",
            file=sys.stderr,
        )
    return datasets.Split(
        fit_images(split.train_x, height, width, channels),
        split.train_y,
        fit_images(split.valid_x, height, width, channels),
        split.valid_y,
    )


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Accuracy and mean loss, in batches, without autograd."""
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(labels), 512):
            logits = model(images[start : start + 512])
            target = labels[start : start + 512]
            loss += F.cross_entropy(logits, target, reduction="sum").item()
            correct += int((logits.argmax(1) == target).sum())
    model.train()
    return correct / len(labels), loss / len(labels)


def run_enas(args: argparse.Namespace) -> None:
    config = parse(
        read_json(args.architecture, "architecture"), read_json(args.nn_config, "nn_config")
    )
    height, width, channels = config.input_sizes
    if min(height, width, channels) < 1:
        raise ConfigError(f"nn_config.input_sizes must be positive, not {list(config.input_sizes)}")
    split = fitted(load(args), height, width, channels)
    for metrics in train_child(config, split, args.num_epochs, args.batch_size, args.lr, args.seed):
        print_metrics(**metrics)


def train_child(
    config: ChildConfig, split: datasets.Split, epochs: int, batch_size: int, lr: float, seed: int
) -> Iterator[dict[str, float]]:
    """Train the child network `config` describes on `split` (fitted to its input) with
    Adam; each epoch's Katib metrics, as they come."""
    if config.classes < split.classes:
        raise ConfigError(
            f"nn_config.output_sizes ends in {config.classes} "
            f"but the data has {split.classes} classes"
        )
    torch.manual_seed(seed)
    model = ChildNetwork(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        correct, total_loss = 0, 0.0
        order = torch.randperm(len(split.train_y), generator=shuffle)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            logits = model(split.train_x[batch])
            loss = F.cross_entropy(logits, split.train_y[batch])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(1) == split.train_y[batch]).sum())
        valid_accuracy, valid_loss = evaluate(model, split.valid_x, split.valid_y)
        yield {
            "Training-Accuracy": correct / len(order),
            "Training-Loss": total_loss / len(order),
            "Validation-Accuracy": valid_accuracy,
            "Validation-Loss": valid_loss,
        }


def _setting(settings: dict[str, object], name: str, kind: type[int] | type[float]) -> float:
    value = settings.get(name)
    try:
        number = kind(str(value))
    except ValueError as err:
        raise ArgumentError(f"algorithm-settings {name} must be a number, not {value!r}") from err
    if not math.isfinite(number) or number < 0:
        raise ArgumentError(
            f"algorithm-settings {name} must be a finite number >= 0, not {value!r}"
        )
    return number


def run_darts(args: argparse.Namespace) -> None:
    settings = read_json(args.algorithm_settings, "algorithm-settings")
    primitives = read_json(args.search_space, "search-space")
    if not isinstance(settings, dict):
        raise ArgumentError("algorithm-settings must be a JSON object")
    if (
        not isinstance(primitives, list)
        or not primitives
        or not all(isinstance(p, str) for p in primitives)
    ):
        raise ArgumentError("search-space must be a non-empty list of primitive names")
    check_primitives(primitives)
    try:
        layers = int(args.num_layers.strip().strip('"'))
    except ValueError as err:
        raise ArgumentError(f"num-layers must be a whole number, not {args.num_layers!r}") from err
    whole = {
        name: int(_setting(settings, name, int))
        for name in ("num_epochs", "init_channels", "num_nodes", "stem_multiplier", "print_step")
    }
    real = {
        name: _setting(settings, name, float)
        for name in (
            "w_lr",
            "w_lr_min",
            "w_momentum",
            "w_weight_decay",
            "w_grad_clip",
            "alpha_lr",
            "alpha_weight_decay",
        )
    }
    batch_size = (
        128 if settings.get("batch_size") is None else int(_setting(settings, "batch_size", int))
    )
    if layers < 1 or min(whole.values()) < 1 or batch_size < 1:
        raise ArgumentError(
            "num-layers, num_epochs, init_channels, num_nodes, stem_multiplier, print_step "
            "and batch_size must be at least 1"
        )
    split = load(args)
    # Katib's search splits the training data in halves: weights learn on one, alphas on the other.
    half = len(split.train_y) // 2
    train_x, train_y = split.train_x[:half], split.train_y[:half]
    valid_x, valid_y = split.train_x[half:], split.train_y[half:]
    shape = SupernetShape(
        (*(p for p in primitives if p != "none"), "none"),
        layers,
        whole["num_nodes"],
        whole["init_channels"],
        whole["stem_multiplier"],
        split.train_x.shape[1],
        split.classes,
    )
    model = Supernet(shape)
    w_optim = torch.optim.SGD(
        model.weights(),
        real["w_lr"],
        momentum=real["w_momentum"],
        weight_decay=real["w_weight_decay"],
    )
    alpha_optim = torch.optim.Adam(
        model.alphas(),
        real["alpha_lr"],
        betas=(0.5, 0.999),
        weight_decay=real["alpha_weight_decay"],
    )
    epochs = whole["num_epochs"]
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_optim, epochs, eta_min=real["w_lr_min"])
    architect = Architect(model, real["w_momentum"], real["w_weight_decay"])
    shuffle = torch.Generator().manual_seed(args.seed)
    best, best_genotype = -1.0, ""
    steps = max(len(train_y) // batch_size, 1)
    for epoch in range(1, epochs + 1):
        lr = float(schedule.get_last_lr()[0])
        train_order = torch.randperm(len(train_y), generator=shuffle)
        valid_order = torch.randperm(len(valid_y), generator=shuffle)
        correct, seen, total_loss = 0, 0, 0.0
        for step in range(steps):
            t = train_order[step * batch_size : (step + 1) * batch_size]
            v = valid_order[step * batch_size : (step + 1) * batch_size]
            alpha_optim.zero_grad()
            architect.backward((train_x[t], train_y[t]), (valid_x[v], valid_y[v]), lr, w_optim)
            alpha_optim.step()
            w_optim.zero_grad()
            logits = model(train_x[t])
            loss = F.cross_entropy(logits, train_y[t])
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(model.weights(), real["w_grad_clip"])
            w_optim.step()
            total_loss += loss.item() * len(t)
            correct += int((logits.argmax(1) == train_y[t]).sum())
            seen += len(t)
            if step % whole["print_step"] == 0 or step == steps - 1:
                print(
                    f"Train: [{epoch}/{epochs}] Step {step:03d}/{steps - 1:03d} "
                    f"Loss {total_loss / seen:.3f} Prec@1 {correct / seen:.1%}"
                )
        schedule.step()
        accuracy, valid_loss = evaluate(model, valid_x, valid_y)
        genotype = model.genotype()
        print_metrics(
            epoch=epoch,
            **{
                "Training-Loss": total_loss / seen,
                "Validation-Accuracy": accuracy,
                "Validation-Loss": valid_loss,
            },
        )
        print(f"Genotype={genotype}", flush=True)
        if accuracy > best:
            best, best_genotype = accuracy, genotype
    print(f"Best-Genotype={best_genotype}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    try:
        run_enas(args) if args.algorithm == "enas" else run_darts(args)
    except (ConfigError, ArgumentError, SearchSpaceError, datasets.DataError) as err:
        print(f"python -m trainers.nas {args.algorithm}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
