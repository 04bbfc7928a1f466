"""NAS rules: the graph config and operations a NAS experiment searches (Katib's
`nas/common/validation.py`, which the enas service applies; darts accepts operations
without parameters, such as skip_connection). Beyond Katib: every name and listed value
is free of quotes and backslashes (the assignments carry them inside JSON whose quotes
Katib swaps), an enas space expands to a bounded number of choices, each of its double
parameters has a step, and each darts operation with parameters lists the sizes its
first parameter gives the primitives."""

from __future__ import annotations

from generator.katib.models import ExperimentSpec, Operation
from generator.katib.nas import MAX_CHOICES, SpaceError, choice_count
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
        problems += _plain_text(operation, path)
        if is_enas:
            problems += _enas_steps(operation, path)
        elif operation.parameters and not operation.parameters[0].feasible_space.list_:
            problems.append(
                Problem(
                    "nas-operations",
                    (*path, "parameters", 0, "feasibleSpace", "list"),
                    "darts names its primitives by the values listed in an operation's first "
                    f"parameter, and {operation.operation_type!r} lists none",
                    "make the first parameter categorical with the kernel sizes, e.g. "
                    'categorical(["3", "5"])',
                )
            )
    if is_enas and not problems:
        problems += _choice_count(operations)
    return problems


_UNSAFE = ("'", '"', "\\")


def _plain_text(operation: Operation, path: FieldPath) -> list[Problem]:
    texts: list[tuple[FieldPath, str]] = [((*path, "operationType"), operation.operation_type)]
    for number, parameter in enumerate(operation.parameters or []):
        where: FieldPath = (*path, "parameters", number)
        texts.append(((*where, "name"), parameter.name))
        for index, value in enumerate(parameter.feasible_space.list_ or []):
            texts.append(((*where, "feasibleSpace", "list", index), value))
    return [
        Problem(
            "nas-text",
            where,
            f"{text!r} holds a quote or a backslash, which the trial's JSON assignments "
            "cannot carry (Katib turns their double quotes into single ones)",
            "use letters, digits, '_', '-' and '.'",
        )
        for where, text in texts
        if any(mark in text for mark in _UNSAFE)
    ]


def _choice_count(operations: list[Operation]) -> list[Problem]:
    try:
        count = choice_count(operations)
    except SpaceError as err:
        reason = str(err)
    else:
        if count <= MAX_CHOICES:
            return []
        reason = f"the operations expand to {count} choices per layer, more than {MAX_CHOICES}"
    return [
        Problem(
            "nas-operations", (*_NAS, "operations"), reason, "give fewer values or coarser steps"
        )
    ]


def _enas_steps(operation: Operation, path: FieldPath) -> list[Problem]:
    return [
        Problem(
            "nas-operations",
            (*path, "parameters", number, "feasibleSpace", "step"),
            f"enas needs a step for the double parameter {parameter.name!r}, to list its values",
            "set step, e.g. double(0.1, 0.5, step=0.1)",
        )
        for number, parameter in enumerate(operation.parameters or [])
        if parameter.parameter_type == "double" and not parameter.feasible_space.step
    ]
