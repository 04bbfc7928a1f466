"""Katib StdOut metric collection over trainer-style output."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.metrics.collectors import Collector, compile_filters, parse_lines, summarize
from trainers.metricline import format_metrics, format_value

DEFAULT = compile_filters(None)


def test_every_match_of_a_wanted_metric_is_recorded_in_order() -> None:
    lines = [
        "epoch=1 loss=0.5 accuracy=.75",
        "starting epoch 2",
        "epoch=2 loss=0.25 accuracy=0.875 val_accuracy=0.1",
        "Score=-7.53e-05 accuracy=1E0",
    ]
    values = parse_lines(lines, ["accuracy", "loss"], DEFAULT)
    assert values == {"accuracy": [0.75, 0.875, 1.0], "loss": [0.5, 0.25]}


def test_lines_without_a_wanted_name_are_skipped() -> None:
    assert parse_lines(["epoch=3 lr=0.1"], ["accuracy"], DEFAULT) == {"accuracy": []}


def test_nan_and_inf_are_read_as_numbers_not_empty_strings() -> None:
    values = parse_lines(["loss=nan", "loss=-inf", "loss=0.5"], ["loss"], DEFAULT)
    assert math.isnan(values["loss"][0])
    assert values["loss"][1:] == [-math.inf, 0.5]
    [summary] = summarize(values)
    assert (summary.min, summary.max, summary.latest) == (-math.inf, 0.5, 0.5)


def test_a_custom_filter_reads_its_own_format() -> None:
    filters = compile_filters([r"([\w-]+)\s*:\s*([+-]?\d*\.?\d+)"])
    assert parse_lines(["accuracy: 0.91"], ["accuracy"], filters) == {"accuracy": [0.91]}


def test_summaries_skip_metrics_that_never_reported() -> None:
    assert summarize({"accuracy": [0.5, 0.25], "loss": []})[0].name == "accuracy"
    assert len(summarize({"accuracy": [0.5, 0.25], "loss": []})) == 1


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True), finite, min_size=1))
def test_what_trainers_print_the_collector_reads_back(values: dict[str, float]) -> None:
    line = format_metrics(**values)
    parsed = parse_lines([line], list(values), DEFAULT)
    for name, value in values.items():
        assert parsed[name] == [float(format_value(value))]
        assert math.isclose(parsed[name][0], value, rel_tol=1e-5, abs_tol=1e-300)


def test_stdout_reads_the_output_and_a_file_collector_needs_its_file(tmp_path: Path) -> None:
    output = tmp_path / "trial.log"
    output.write_text("loss=0.5\naccuracy=0.75\n")
    stdout = Collector("StdOut", "TEXT", tuple(DEFAULT), ("accuracy",))
    assert stdout.collect(output, None) == ({"accuracy": [0.75]}, "")
    text_file = Collector("File", "TEXT", tuple(DEFAULT), ("accuracy",), path="/m.log")
    with pytest.raises(ValueError, match="reads a metrics file"):
        text_file.collect(output, None)
    assert text_file.collect(output, output) == ({"accuracy": [0.75]}, "")


def test_the_controller_and_the_trainers_agree_on_the_wire() -> None:
    """Each side keeps its own copy (trainers import nothing of hpo-gen's, the controller
    nothing of the trainers'): the default metric filter and the Push variable's name."""
    from controller.metrics.collectors import PUSH_ENVIRONMENT
    from generator.language.collectors import DEFAULT_METRICS_FORMAT
    from trainers.metricline import DEFAULT_FILTER
    from trainers.reporting import PUSH_ENVIRONMENT as TRAINERS_PUSH_ENVIRONMENT

    assert DEFAULT_FILTER == DEFAULT_METRICS_FORMAT
    assert PUSH_ENVIRONMENT == TRAINERS_PUSH_ENVIRONMENT
