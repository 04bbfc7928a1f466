"""Data for the image classifiers, as in-memory tensors: scikit-learn's bundled 8x8 digits
(the embedded default, no download), real MNIST from its four IDX files, plain or gzipped,
or CIFAR-10 in its binary version (`data_batch_1.bin` ... `data_batch_5.bin`,
`test_batch.bin`: a label byte then 3x32x32 pixel bytes per image; the pickled Python
version is never read, since unpickling runs code). Images are float32 in [0, 1] shaped
(N, C, H, W); labels are int64."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801


class DataError(Exception):
    """The data set is missing or malformed; the message says which file and why."""


@dataclass(frozen=True)
class Split:
    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor

    @property
    def classes(self) -> int:
        return int(max(self.train_y.max().item(), self.valid_y.max().item())) + 1

    def flattened(self) -> Split:
        """Images as flat rows, for models that take vectors."""
        return Split(self.train_x.flatten(1), self.train_y, self.valid_x.flatten(1), self.valid_y)


def digits(seed: int, validation_fraction: float = 0.2) -> Split:
    """scikit-learn's 1797 8x8 digits, shuffled by `seed` and split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy((bunch.images / 16.0).astype(np.float32)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = int(len(labels) * (1 - validation_fraction))
    train, valid = order[:cut], order[cut:]
    return Split(images[train], labels[train], images[valid], labels[valid])


def mnist(data_dir: Path) -> Split:
    """MNIST's training set for training, its test set (t10k) for validation."""
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} is not a directory")
    train_x = read_idx_images(_find(data_dir, IDX_FILES["train_images"]))
    train_y = read_idx_labels(_find(data_dir, IDX_FILES["train_labels"]))
    valid_x = read_idx_images(_find(data_dir, IDX_FILES["test_images"]))
    valid_y = read_idx_labels(_find(data_dir, IDX_FILES["test_labels"]))
    for images, labels, name in ((train_x, train_y, "train"), (valid_x, valid_y, "t10k")):
        if len(images) != len(labels):
            raise DataError(
                f"{data_dir}: the {name} images ({len(images)}) and labels ({len(labels)}) "
                "differ in count"
            )
    return Split(train_x, train_y, valid_x, valid_y)


CIFAR_TRAIN = tuple(f"data_batch_{n}.bin" for n in range(1, 6))
CIFAR_TEST = "test_batch.bin"
_CIFAR_RECORD = 1 + 3 * 32 * 32


def cifar10(data_dir: Path) -> Split:
    """CIFAR-10's training batches that are present for training, its test batch for
    validation."""
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} is not a directory")
    train = [data_dir / name for name in CIFAR_TRAIN if (data_dir / name).is_file()]
    if not train or not (data_dir / CIFAR_TEST).is_file():
        raise DataError(
            f"{data_dir}: CIFAR-10 needs {CIFAR_TEST} and at least data_batch_1.bin "
            "(the binary version)"
        )
    parts = [read_cifar_batch(path) for path in train]
    valid_x, valid_y = read_cifar_batch(data_dir / CIFAR_TEST)
    return Split(
        torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts]), valid_x, valid_y
    )


def read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = _read(path)
    if not data or len(data) % _CIFAR_RECORD:
        raise DataError(
            f"{path}: {len(data)} bytes is not a whole number of CIFAR-10 records "
            f"({_CIFAR_RECORD} bytes each)"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path}: a label is {int(labels.max())}; CIFAR-10 labels are 0-9")
    images = records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return torch.from_numpy(images), torch.from_numpy(labels)


def from_dir(data_dir: Path) -> Split:
    """CIFAR-10 where its batches are, MNIST otherwise."""
    if (data_dir / CIFAR_TEST).is_file():
        return cifar10(data_dir)
    return mnist(data_dir)


def _find(data_dir: Path, name: str) -> Path:
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    expected = ", ".join(f"{n}[.gz]" for n in IDX_FILES.values())
    raise DataError(f"{data_dir}: {name} (or {name}.gz) is missing; MNIST needs {expected}")


def _read(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read: {err}") from err


def read_idx_images(path: Path) -> torch.Tensor:
    data = _read(path)
    if len(data) < 16:
        raise DataError(f"{path}: too short for an IDX images header")
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != _IMAGES_MAGIC:
        raise DataError(
            f"{path}: not an IDX images file (magic {magic:#010x}, expected 0x00000803)"
        )
    expected = count * rows * cols
    if len(data) - 16 != expected:
        raise DataError(
            f"{path}: the header promises {count} images of {rows}x{cols} "
            f"({expected} bytes) but the file holds {len(data) - 16}"
        )
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, 1, rows, cols)
    return torch.from_numpy(pixels.astype(np.float32) / 255.0)


def read_idx_labels(path: Path) -> torch.Tensor:
    data = _read(path)
    if len(data) < 8:
        raise DataError(f"{path}: too short for an IDX labels header")
    magic, count = struct.unpack(">II", data[:8])
    if magic != _LABELS_MAGIC:
        raise DataError(
            f"{path}: not an IDX labels file (magic {magic:#010x}, expected 0x00000801)"
        )
    if len(data) - 8 != count:
        raise DataError(
            f"{path}: the header promises {count} labels but the file holds {len(data) - 8}"
        )
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write uint8 images (N, H, W) or labels (N,) as an IDX file (gzipped for `.gz`)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim == 3:
        header = struct.pack(">IIII", _IMAGES_MAGIC, *array.shape)
    elif array.ndim == 1:
        header = struct.pack(">II", _LABELS_MAGIC, array.shape[0])
    else:
        raise ValueError(f"IDX images are (N, H, W) and labels (N,), got shape {array.shape}")
    payload = header + array.tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as stream:
            stream.write(payload)
    else:
        path.write_bytes(payload)
