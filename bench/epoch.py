"""Training speed: one epoch of trainers.mnist's MLP (batches sliced from in-memory tensors,
images flattened once, the hand-written training step of trainers/fastmlp.py) against the
usual baseline, the same model, optimizer, seed and batch size fed by
torch.utils.data.DataLoader over a per-sample Dataset with autograd and torch.optim, in
the same run. For comparison, also autograd over trainers.mnist's in-memory batches. Two
baselines: a Dataset returning stored tensors (the cheapest per-sample feeding), and
one that stores uint8 images and converts each sample as torchvision's MNIST with
ToTensor() does (the way most published MNIST examples, Katib's included, do it). Each
trains for the same epochs and reports its validation accuracy: the speed-up is at equal
accuracy.

Two data sets: scikit-learn's 8x8 digits (1,437 training images: trainers.mnist's
embedded default), and the same digits upscaled to MNIST's 28x28 and shifted into MNIST's
60,000 training images ("digits-28").

    python bench/epoch.py [--epochs 3] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from trainers import datasets, networks
from trainers.fastmlp import FlatMLP
from trainers.mnist import AutogradFitter, accuracy


class StoredTensors(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


class TorchvisionStyle(Dataset[tuple[torch.Tensor, int]]):
    """uint8 images converted to float per sample, as torchvision MNIST + ToTensor()."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images = (images * 255).round().to(torch.uint8).numpy()
        self.labels = labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(self.images[index].astype(np.float32) / 255.0)
        return image, self.labels[index]


def digits_28(seed: int) -> datasets.Split:
    """The digits at MNIST's size and count: upscaled to 28x28, shifted by up to 2 pixels."""
    small = datasets.digits(seed)
    generator = torch.Generator().manual_seed(seed)

    def grow(
        images: torch.Tensor, labels: torch.Tensor, count: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        picks = torch.randint(len(labels), (count,), generator=generator)
        big = nn.functional.interpolate(images[picks], size=(24, 24), mode="bilinear")
        canvas = torch.zeros(count, 1, 28, 28)
        shifts = torch.randint(5, (count, 2), generator=generator)
        for row in range(5):
            for col in range(5):
                chosen = (shifts[:, 0] == row) & (shifts[:, 1] == col)
                canvas[chosen, :, row : row + 24, col : col + 24] = big[chosen]
        return canvas.clamp(0, 1), labels[picks]

    train_x, train_y = grow(small.train_x, small.train_y, 60000)
    valid_x, valid_y = grow(small.valid_x, small.valid_y, 10000)
    return datasets.Split(train_x, train_y, valid_x, valid_y)


def fresh_model(inputs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return networks.mlp(inputs, 128, 1, 10, "relu", 0.0)


def baseline(
    split: datasets.Split,
    make: Callable[..., Dataset],  # type: ignore[type-arg]
    epochs: int,
    batch: int,
) -> tuple[float, float]:
    flat = split.flattened()
    model = fresh_model(flat.train_x.shape[1], seed=1)
    optimizer = networks.optimizer("sgd", list(model.parameters()), 0.05, 0.9)
    network = nn.Sequential(nn.Flatten(), model)  # published examples flatten every batch
    loader = DataLoader(
        make(split.train_x, split.train_y),
        batch_size=batch,
        shuffle=True,
        generator=torch.Generator().manual_seed(1),
    )
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        network.train()
        for images, labels in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(network(images), labels)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        times.append(time.perf_counter() - started)
    return statistics.median(times), accuracy(model, flat.valid_x, flat.valid_y)


def in_memory(
    split: datasets.Split, epochs: int, batch: int, hand_written: bool
) -> tuple[float, float]:
    """trainers.mnist's loop: the hand-written step, or (for comparison) autograd and
    torch.optim over the same in-memory batches."""
    flat = split.flattened()
    model = fresh_model(flat.train_x.shape[1], seed=1)
    fit = (
        FlatMLP(model, "relu", 0.0, "sgd", 0.05, 0.9)
        if hand_written
        else AutogradFitter(model, "sgd", 0.05, 0.9)
    )
    shuffle = torch.Generator().manual_seed(1)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        fit.epoch(flat.train_x, flat.train_y, batch, shuffle)
        times.append(time.perf_counter() - started)
    return statistics.median(times), accuracy(model, flat.valid_x, flat.valid_y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"MLP 128 hidden, SGD lr 0.05 momentum 0.9, batch {args.batch_size}, "
        f"{args.epochs} epochs, 1 thread; median seconds per epoch, validation accuracy"
    )
    for name, split in (("digits", datasets.digits(1)), ("digits-28", digits_28(1))):
        ours_time, ours_accuracy = in_memory(split, args.epochs, args.batch_size, True)
        print(f"{name}: trainers.mnist {ours_time * 1000:.1f} ms, accuracy {ours_accuracy:.4f}")
        time_, accuracy_ = in_memory(split, args.epochs, args.batch_size, False)
        print(
            f"  in-memory batches, autograd and torch.optim: {time_ * 1000:.1f} ms, "
            f"accuracy {accuracy_:.4f}; speed-up {time_ / ours_time:.2f}x"
        )
        for label, make in (
            ("stored tensors", StoredTensors),
            ("torchvision-style", TorchvisionStyle),
        ):
            time_, accuracy_ = baseline(split, make, args.epochs, args.batch_size)
            print(
                f"  DataLoader over {label} (baseline): {time_ * 1000:.1f} ms, "
                f"accuracy {accuracy_:.4f}; speed-up {time_ / ours_time:.2f}x"
            )


if __name__ == "__main__":
    main()
