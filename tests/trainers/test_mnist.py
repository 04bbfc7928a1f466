"""trainers.mnist: trains on the bundled digits and reports Katib StdOut lines."""

from __future__ import annotations

import subprocess
import sys

from controller.metrics import compile_filters, parse_lines
from trainers import mnist


def test_one_epoch_reports_epoch_loss_and_accuracy(capsys) -> None:  # type: ignore[no-untyped-def]
    mnist.main(["--lr=0.05", "--batch-size=32", "--epochs=2", "--seed=1"])
    lines = capsys.readouterr().out.splitlines()
    values = parse_lines(lines, ["epoch", "loss", "accuracy"], compile_filters(None))
    assert values["epoch"] == [1.0, 2.0]
    assert values["loss"][1] < values["loss"][0]
    assert 0.8 < values["accuracy"][1] <= 1.0


def test_the_same_seed_gives_the_same_result(capsys) -> None:  # type: ignore[no-untyped-def]
    mnist.main(["--epochs=1", "--seed=4"])
    first = capsys.readouterr().out
    mnist.main(["--epochs=1", "--seed=4"])
    assert capsys.readouterr().out == first


def test_a_bad_argument_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trainers.mnist", "--batch-size=0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--batch-size must be greater than 0" in result.stderr


def test_importing_trainers_does_not_import_torch() -> None:
    code = "import sys, trainers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
