"""trainers.mnist: trains on the bundled digits or MNIST IDX files and reports Katib lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from controller.metrics.collectors import compile_filters, parse_lines
from trainers import datasets, mnist

FILTERS = compile_filters(None)


def metrics(text: str) -> dict[str, list[float]]:
    return parse_lines(text.splitlines(), ["epoch", "loss", "accuracy"], FILTERS)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, list[float]]:
    assert mnist.main(list(args)) == 0
    return metrics(capsys.readouterr().out)


def test_every_epoch_reports_epoch_loss_and_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    values = run(capsys, "--lr=0.05", "--batch-size=32", "--epochs=2", "--seed=1")
    assert values["epoch"] == [1.0, 2.0]
    assert values["loss"][1] < values["loss"][0]
    assert 0.8 < values["accuracy"][1] <= 1.0


@pytest.mark.parametrize(
    "args",
    [
        ("--model=cnn", "--num-layers=2", "--optimizer=adam", "--lr=0.01"),
        ("--optimizer=rmsprop", "--lr=0.002", "--momentum=0.0", "--activation=tanh"),
        ("--num-layers=2", "--hidden-size=64", "--dropout=0.1", "--weight-init=kaiming"),
        ("--activation=gelu", "--weight-init=xavier", "--optimizer=adam", "--lr=0.005"),
    ],
)
def test_models_and_optimizers_learn(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    values = run(capsys, *args, "--epochs=4", "--seed=2")
    assert values["accuracy"][-1] > 0.7


def test_the_same_seed_gives_the_same_result(capsys: pytest.CaptureFixture[str]) -> None:
    first = run(capsys, "--epochs=1", "--seed=4")
    assert run(capsys, "--epochs=1", "--seed=4") == first


def test_early_stopping_ends_training_when_accuracy_stalls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    mnist.main(["--epochs=30", "--lr=0.5", "--early-stopping-patience=2", "--seed=1"])
    captured = capsys.readouterr()
    epochs = metrics(captured.out)["epoch"]
    assert len(epochs) < 30
    assert "early stopping: no better accuracy for 2 epochs" in captured.err


@pytest.mark.parametrize("file_format", ["text", "json"])
def test_metrics_go_to_a_file_for_the_file_collector(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, file_format: str
) -> None:
    target = tmp_path / "logs" / "metrics.log"
    run(capsys, "--epochs=2", f"--metrics-file={target}", f"--metrics-format={file_format}")
    lines = target.read_text().splitlines()
    assert len(lines) == 2
    if file_format == "json":
        record = json.loads(lines[1])
        assert record["epoch"] == "2"  # strings: Katib's JSON collector ignores numbers
        assert set(record) == {"epoch", "loss", "accuracy", "timestamp"}
        assert record["timestamp"].endswith("Z")
    else:
        assert metrics(lines[1])["epoch"] == [2.0]


def write_mnist(folder: Path, count: int, gz: bool) -> None:
    """A small MNIST-format data set: digits upscaled to 28x28, in the four IDX files."""
    split = datasets.digits(seed=0)
    images = np.kron(split.train_x[:count, 0].numpy(), np.ones((3, 3)))  # 8x8 -> 24x24
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    pixels = (padded * 255).round().astype(np.uint8)
    labels = split.train_y[:count].numpy().astype(np.uint8)
    suffix = ".gz" if gz else ""
    half = count // 2
    files = datasets.IDX_FILES
    datasets.write_idx(folder / f"{files['train_images']}{suffix}", pixels[:half])
    datasets.write_idx(folder / f"{files['train_labels']}{suffix}", labels[:half])
    datasets.write_idx(folder / f"{files['test_images']}{suffix}", pixels[half:])
    datasets.write_idx(folder / f"{files['test_labels']}{suffix}", labels[half:])


@pytest.mark.parametrize("gz", [False, True])
def test_real_mnist_idx_files_are_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, gz: bool
) -> None:
    write_mnist(tmp_path, 600, gz)
    split = datasets.mnist(tmp_path)
    assert tuple(split.train_x.shape) == (300, 1, 28, 28)
    assert float(split.train_x.max()) <= 1.0
    values = run(capsys, f"--data-dir={tmp_path}", "--epochs=3", "--optimizer=adam", "--lr=0.003")
    assert values["accuracy"][-1] > 0.6


def trainer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainers.mnist", *args], capture_output=True, text=True, check=False
    )


def test_a_missing_idx_file_is_a_clear_error(tmp_path: Path) -> None:
    write_mnist(tmp_path, 100, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    result = trainer(f"--data-dir={tmp_path}")
    assert result.returncode == 2
    assert "t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz) is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_file_is_a_clear_error(tmp_path: Path) -> None:
    write_mnist(tmp_path, 100, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + bytes(20))
    result = trainer(f"--data-dir={tmp_path}")
    assert result.returncode == 2
    assert "not an IDX images file (magic 0x00000801, expected 0x00000803)" in result.stderr
    write_mnist(tmp_path, 100, gz=False)  # whole again
    truncated = tmp_path / "train-labels-idx1-ubyte"
    truncated.write_bytes(truncated.read_bytes()[:-5])
    result = trainer(f"--data-dir={tmp_path}")
    assert "the header promises 50 labels but the file holds 45" in result.stderr


def test_a_bad_argument_is_a_usage_error() -> None:
    result = trainer("--batch-size=0")
    assert result.returncode == 2
    assert "--batch-size must be greater than 0" in result.stderr
    assert trainer("--model=transformer").returncode == 2


def test_importing_trainers_does_not_import_torch() -> None:
    code = "import sys, trainers; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_a_checkpoint_folder_continues_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "trial"
    first = run(capsys, "--epochs=2", "--lr=0.05", f"--checkpoint-dir={folder}")
    later = run(capsys, "--epochs=2", "--lr=0.01", f"--checkpoint-dir={folder}")
    assert later["epoch"] == [3.0, 4.0]
    assert later["loss"][0] < first["loss"][0], "it starts from the trained model"
    assert sorted(p.name for p in folder.iterdir()) == ["mnist.pt"]
    cnn = tmp_path / "cnn"
    run(capsys, "--model=cnn", "--optimizer=adam", "--epochs=1", f"--checkpoint-dir={cnn}")
    assert run(capsys, "--model=cnn", "--optimizer=adam", "--epochs=1", f"--checkpoint-dir={cnn}")[
        "epoch"
    ] == [2.0]


def test_a_checkpoint_of_another_model_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--epochs=1", f"--checkpoint-dir={tmp_path}")
    assert mnist.main(["--epochs=1", "--hidden-size=64", f"--checkpoint-dir={tmp_path}"]) == 2
    error = capsys.readouterr().err
    assert f"cannot continue from {tmp_path / 'mnist.pt'}" in error
    assert "--hidden-size" in error
