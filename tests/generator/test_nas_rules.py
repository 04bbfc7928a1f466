"""hpo-gen's NAS rules beyond Katib's: names and listed values free of quotes and
backslashes (Katib's assignments are JSON with swapped quotes), a step on every enas double,
a bounded number of enas choices, a darts operation's kernel sizes listed in its first
parameter; the graph enas needs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.generator.test_katib_service_cases import NAS, codes, experiment, nas_operation


def categorical(name: str, *values: str) -> dict[str, Any]:
    return {"name": name, "parameterType": "categorical", "feasibleSpace": {"list": list(values)}}


def numeric(name: str, kind: str, low: str, high: str, step: str | None = None) -> dict[str, Any]:
    space = {"min": low, "max": high} | ({"step": step} if step else {})
    return {"name": name, "parameterType": kind, "feasibleSpace": space}


def op(kind: str, *parameters: dict[str, Any]) -> dict[str, Any]:
    return (
        {"operationType": kind, "parameters": list(parameters)}
        if parameters
        else {"operationType": kind}
    )


@pytest.mark.parametrize(
    ("algorithm", "operation", "expected"),
    [
        ("enas", op("conv'olution", categorical("filter_size", "3")), {"nas-text"}),
        ("enas", op("convolution", categorical('filter"size', "3")), {"nas-text"}),
        ("darts", op("convolution", categorical("filter_size", "3", "5\\")), {"nas-text"}),
        ("enas", op("dropout", numeric("rate", "double", "0.1", "0.5")), {"nas-operations"}),
        ("enas", op("dropout", numeric("rate", "double", "0.1", "0.5", "0.1")), set()),
        ("enas", op("conv", numeric("filters", "int", "1", "20000")), {"nas-operations"}),
        ("enas", op("conv", numeric("filters", "int", "1", "9999")), set()),
        (
            "darts",
            op("dilated_convolution", numeric("filter_size", "int", "3", "5")),
            {"nas-operations"},
        ),
        ("darts", op("skip_connection"), set()),
    ],
)
def test_nas_operations(algorithm: str, operation: dict[str, Any], expected: set[str]) -> None:
    assert codes(experiment(algorithm, {}, nas=nas_operation(operation))) == expected


def test_enas_needs_the_graphs_input_sizes_and_darts_does_not() -> None:
    graph = {"numLayers": 2, "outputSizes": [10]}
    assert codes(experiment("enas", {}, nas={**NAS, "graphConfig": graph})) == {"nas-graph"}
    assert codes(experiment("darts", {}, nas={**NAS, "graphConfig": graph})) == set()


def test_enas_rejects_unknown_settings_and_darts_passes_them_through() -> None:
    assert codes(experiment("enas", {"controller_size": "3"}, nas=NAS)) == {"setting-unknown"}
    assert codes(experiment("darts", {"controller_size": "3"}, nas=NAS)) == set()
