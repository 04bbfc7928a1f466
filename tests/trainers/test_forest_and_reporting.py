"""trainers.forest and the reporting toolkit any training script can use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import trainers
from controller.metrics.collectors import compile_filters, parse_lines
from trainers import forest
from trainers.reporting import PUSH_ENVIRONMENT, MetricsFile


def test_the_forest_reports_cross_validated_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    assert forest.main(["--n-estimators=20", "--max-depth=8", "--dataset=digits", "--folds=3"]) == 0
    values = parse_lines(
        capsys.readouterr().out.splitlines(), ["accuracy", "accuracy-std"], compile_filters(None)
    )
    assert 0.8 < values["accuracy"][0] <= 1.0
    assert 0 <= values["accuracy-std"][0] < 0.1


@pytest.mark.parametrize("dataset", ["wine", "synthetic"])
def test_the_forest_takes_other_data_sets(capsys: pytest.CaptureFixture[str], dataset: str) -> None:
    assert forest.main(["--n-estimators=10", f"--dataset={dataset}", "--max-features=0.5"]) == 0
    assert "accuracy=" in capsys.readouterr().out


def test_bad_forest_arguments_are_usage_errors() -> None:
    for args in (["--n-estimators=0"], ["--max-features=2.5"], ["--min-samples-split=1"]):
        result = subprocess.run(
            [sys.executable, "-m", "trainers.forest", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 2, args


def test_the_toolkit_exports_exactly_its_functions() -> None:
    assert trainers.__all__ == ["MetricsFile", "format_metrics", "print_metrics", "report_metrics"]


def test_report_metrics_prints_outside_a_trial(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PUSH_ENVIRONMENT, raising=False)
    trainers.report_metrics(accuracy=0.9, loss=0.25)
    assert capsys.readouterr().out == "accuracy=0.9 loss=0.25\n"


def test_report_metrics_pushes_inside_a_trial(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "push.jsonl"
    monkeypatch.setenv(PUSH_ENVIRONMENT, str(target))
    trainers.report_metrics(accuracy=0.5)
    trainers.report_metrics(accuracy=0.75)
    assert capsys.readouterr().out == ""
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["accuracy"] for r in records] == ["0.5", "0.75"]


def test_report_metrics_refuses_what_is_not_a_number() -> None:
    with pytest.raises(TypeError, match="metric 'accuracy' must be a number"):
        trainers.report_metrics(accuracy="high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one metric"):
        trainers.report_metrics()


def test_a_metrics_file_needs_a_known_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'text' or 'json'"):
        MetricsFile(tmp_path / "m.log", "csv")  # type: ignore[arg-type]
