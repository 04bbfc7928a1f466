"""NAS rules: the graph config and operations a NAS experiment searches (Katib's
`nas/common/validation.py`, which the enas service applies; darts accepts operations
without parameters, such as skip_connection)."""

from __future__ import annotations

from generator.katib.models import ExperimentSpec
from generator.problems import FieldPath, Problem
from generator.validation.rules.parameters import check_parameter

_NAS: FieldPath = ("spec", "nasConfig")


def check(spec: ExperimentSpec) -> list[Problem]:
    nas = spec.nas_config
    if nas is None:
        return []
    problems: list[Problem] = []
    graph = nas.graph_config
    is_enas = spec.algorithm is not None and spec.algorithm.algorithm_name == "enas"
    if is_enas:
        for field, value in (
            ("numLayers", graph.num_layers if graph else None),
            ("inputSizes", graph.input_sizes if graph else None),
            ("outputSizes", graph.output_sizes if graph else None),
        ):
            if not value:
                problems.append(
                    Problem(
                        "nas-graph",
                        (*_NAS, "graphConfig", field),
                        "is required by enas",
                        f"set graph_config {field}",
                    )
                )
    operations = nas.operations or []
    if not operations:
        problems.append(
            Problem(
                "nas-operations",
                (*_NAS, "operations"),
                "needs at least one operation",
                "list the operations the search may place in each layer",
            )
        )
    for index, operation in enumerate(operations):
        path: FieldPath = (*_NAS, "operations", index)
        if not operation.operation_type:
            problems.append(
                Problem("nas-operations", (*path, "operationType"), "is required", "name it")
            )
        if is_enas and not operation.parameters:  # darts takes parameterless operations
            problems.append(
                Problem(
                    "nas-operations",
                    (*path, "parameters"),
                    "an operation needs at least one parameter",
                    "add the operation's parameters",
                )
            )
        for number, parameter in enumerate(operation.parameters or []):
            problems += check_parameter(parameter, (*path, "parameters", number))
    return problems
