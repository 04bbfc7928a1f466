"""A NAS experiment's search space as Katib's suggestion services see it, and the trial
assignments they give (`nas/enas/Operation.py`, `nas/enas/service.py`,
`nas/darts/service.py`).

enas: each operation of `nasConfig.operations` becomes one choice per combination of its
parameters' values, numbered in order (`opt_id`); an architecture names one choice per
layer and, for each earlier layer, whether it feeds this one (a skip connection). A trial
gets `architecture`, the layers as lists `[choice, skip_0, ..., skip_{l-1}]`, and
`nn_config`: the layer count, input and output sizes, and the choices the architecture
uses (`embedding`, keyed by their number).

darts: every trial gets the same three values: `algorithm-settings` (the settings over
Katib's defaults), `search-space` (the primitives: `<operationType>_<k>x<k>` for each value
of an operation's first parameter, `skip_connection` alone) and `num-layers`.

Values travel as Katib writes them: JSON with its double quotes turned into single quotes
(the trial images turn them back), which is why no name or value in a NAS search space may
hold a quote or a backslash (`generator.validation.rules.nas`).

Katib's bugs not kept: its enas service drops `discrete` parameters and cannot expand a
`double` one (it deletes from a numpy array); both are expanded here."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from generator.katib.models import GraphConfig, Operation, ParameterSpec

# Katib's darts defaults (`nas/darts/service.py: get_algorithm_settings`), in its order.
DARTS_DEFAULTS: dict[str, int | float] = {
    "num_epochs": 50,
    "w_lr": 0.025,
    "w_lr_min": 0.001,
    "w_momentum": 0.9,
    "w_weight_decay": 3e-4,
    "w_grad_clip": 5.0,
    "alpha_lr": 3e-4,
    "alpha_weight_decay": 1e-3,
    "batch_size": 128,
    "num_workers": 4,
    "init_channels": 16,
    "print_step": 50,
    "num_nodes": 4,
    "stem_multiplier": 3,
}
ENAS_ASSIGNMENTS = ("architecture", "nn_config")
DARTS_ASSIGNMENTS = ("algorithm-settings", "search-space", "num-layers")
# The most choices an enas search space may expand to: the policy's softmax is this wide.
MAX_CHOICES = 10_000

ParameterValue = str | int | float


@dataclass(frozen=True)
class Choice:
    """One operation with one value for each of its parameters."""

    opt_id: int
    opt_type: str
    opt_params: tuple[tuple[str, ParameterValue], ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "opt_id": self.opt_id,
            "opt_type": self.opt_type,
            "opt_params": dict(self.opt_params),
        }


class SpaceError(ValueError):
    """A parameter of an operation cannot be expanded; the message says which and why."""


def parameter_values(parameter: ParameterSpec) -> list[ParameterValue]:
    """Every value a parameter of an operation takes: a list as written (categorical as
    text, discrete as numbers), an int range by its step (1 by default), a double grid by
    its step (required)."""
    space = parameter.feasible_space
    kind = parameter.parameter_type
    if kind == "categorical":
        return list(space.list_ or [])
    if kind == "discrete":
        return [_number(text) for text in space.list_ or []]
    try:
        low, high = float(space.min or "nan"), float(space.max or "nan")
        step = float(space.step) if space.step else (1.0 if kind == "int" else math.nan)
    except ValueError as err:
        raise SpaceError(f"{parameter.name}: {err}") from err
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(step) and step > 0):
        raise SpaceError(f"{parameter.name}: needs a finite min, max and step > 0")
    count = math.floor((high - low) / step + 1e-9) + 1
    if count < 1:
        return []
    if count > MAX_CHOICES:
        raise SpaceError(f"{parameter.name}: {count} values, more than {MAX_CHOICES}")
    if kind == "int":
        return [int(low) + k * int(step) for k in range(count)]
    return [round(low + k * step, 12) for k in range(count)]


def _number(text: str) -> int | float:
    value = float(text)
    return (
        int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    )


def choice_count(operations: Sequence[Operation]) -> int:
    """How many choices `operations` expand to, without expanding them."""
    total = 0
    for operation in operations:
        total += math.prod(len(parameter_values(p)) for p in operation.parameters or [])
    return total


def choices(operations: Sequence[Operation]) -> list[Choice]:
    """The enas choices, numbered in the order of the operations and, within one, of the
    product of its parameters' values (the first parameter varies slowest)."""
    if choice_count(operations) > MAX_CHOICES:
        raise SpaceError(f"the operations expand to more than {MAX_CHOICES} choices")
    result: list[Choice] = []
    for operation in operations:
        parameters = operation.parameters or []
        names = [p.name for p in parameters]
        for values in itertools.product(*(parameter_values(p) for p in parameters)):
            result.append(
                Choice(
                    len(result), operation.operation_type, tuple(zip(names, values, strict=True))
                )
            )
    return result


def architecture_size(num_layers: int, num_choices: int) -> int | None:
    """How many distinct architectures there are (None: more than 2**63)."""
    skips = num_layers * (num_layers - 1) // 2
    size = num_choices**num_layers * 2**skips
    return size if size < 2**63 else None


def wire(value: object) -> str:
    """JSON as Katib writes an assignment: its double quotes as single quotes."""
    return json.dumps(value).replace('"', "'")


def enas_assignments(
    layers: Sequence[Sequence[int]], graph: GraphConfig, space: Sequence[Choice]
) -> tuple[tuple[str, str], ...]:
    """`architecture` and `nn_config` for an architecture given as its layers, each
    `[choice, skip_0, ..., skip_{l-1}]`."""
    embedding: dict[str, object] = {}
    for layer in layers:
        embedding.setdefault(str(layer[0]), space[layer[0]].as_dict())
    nn_config = {
        "num_layers": graph.num_layers,
        "input_sizes": list(graph.input_sizes or []),
        "output_sizes": list(graph.output_sizes or []),
        "embedding": embedding,
    }
    return (
        ("architecture", wire([list(layer) for layer in layers])),
        ("nn_config", wire(nn_config)),
    )


def architecture_of(text: str, num_layers: int, num_choices: int) -> list[list[int]]:
    """The layers of an `architecture` assignment read back (a restarted controller reads
    its finished trials'); a ValueError says what does not fit the search space."""
    layers = json.loads(text.replace("'", '"'))
    if not isinstance(layers, list) or len(layers) != num_layers:
        raise ValueError(f"expected a list of {num_layers} layers")
    for index, layer in enumerate(layers):
        if (
            not isinstance(layer, list)
            or len(layer) != index + 1
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in layer)
            or not 0 <= layer[0] < num_choices
            or any(v not in (0, 1) for v in layer[1:])
        ):
            raise ValueError(f"layer {index} is not [choice, {index} skips of 0 or 1]")
    return layers


def darts_search_space(operations: Sequence[Operation]) -> list[str]:
    primitives: list[str] = []
    for operation in operations:
        if operation.operation_type == "skip_connection" or not operation.parameters:
            primitives.append(operation.operation_type)
            continue
        for size in operation.parameters[0].feasible_space.list_ or []:
            primitives.append(f"{operation.operation_type}_{size}x{size}")
    return primitives


def darts_settings(settings: Sequence[tuple[str, str]]) -> dict[str, object]:
    """Katib's defaults overlaid with the experiment's settings, which stay text as Katib
    passes them ("None" becomes null); unknown names pass through."""
    result: dict[str, object] = dict(DARTS_DEFAULTS)
    for name, value in settings:
        result[name] = None if value == "None" else value
    return result


def darts_assignments(
    settings: Sequence[tuple[str, str]], operations: Sequence[Operation], num_layers: int | None
) -> tuple[tuple[str, str], ...]:
    return (
        ("algorithm-settings", wire(darts_settings(settings))),
        ("search-space", wire(darts_search_space(operations))),
        ("num-layers", str(num_layers if num_layers is not None else 0)),
    )
