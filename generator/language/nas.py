"""Builders of a neural-architecture search space (Katib's nasConfig), for the enas and
darts algorithms."""

from __future__ import annotations

from collections.abc import Sequence

from generator.files.origin import caller_origin
from generator.katib.models import GraphConfig, NasConfig, Operation
from generator.language.space import SearchSpace


def operation(operation_type: str, parameters: SearchSpace | None = None) -> Operation:
    """A kind of layer the search may place, with the parameters it is searched over."""
    spec = Operation(
        operation_type=operation_type,
        parameters=parameters.parameters() if parameters is not None and len(parameters) else None,
    )
    return spec.located(caller_origin())


def nas_config(
    *,
    operations: Sequence[Operation],
    num_layers: int | None = None,
    input_sizes: Sequence[int] | None = None,
    output_sizes: Sequence[int] | None = None,
) -> NasConfig:
    graph = None
    if num_layers is not None or input_sizes is not None or output_sizes is not None:
        graph = GraphConfig(
            num_layers=num_layers,
            input_sizes=list(input_sizes) if input_sizes is not None else None,
            output_sizes=list(output_sizes) if output_sizes is not None else None,
        )
    spec = NasConfig(graph_config=graph, operations=list(operations))
    return spec.located(caller_origin())
