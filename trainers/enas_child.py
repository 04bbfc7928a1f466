"""The ENAS child network: the convolutional network an `architecture` and its `nn_config`
describe, as Katib's suggestion service writes them and its trial image reads them
(`enas-cnn-cifar10/ModelConstructor.py`, `op_library.py`).

Layer l (from 1) takes the output of layer l-1 and of every earlier layer whose skip bit is
1 (layer 0 being the input), padded with zeros to the largest height and width among them
and concatenated along the channels; applies its operation; and after the last layer, a
global average and one linear layer give the class scores. The operations:

- `convolution` (`filter_size`, `num_filter`, `stride`): ReLU, convolution, batch norm.
- `separable_convolution` (+ `depth_multiplier`): ReLU, depthwise then pointwise
  convolution, batch norm.
- `depthwise_convolution` (`filter_size`, `stride`, `depth_multiplier`): ReLU, depthwise
  convolution, batch norm.
- `reduction` (`reduction_type` max_pooling or avg_pooling, `pool_size`, `stride`):
  pooling; an input already 1 pixel high or wide passes unchanged.

Convolutions pad as TensorFlow's "same" (output side = ceil(side / stride)); missing
parameters take Katib's defaults (64 filters, size 3, stride 1, multiplier 1; pool 2).
Katib's trial image passes each layer the whole embedding entry instead of its
`opt_params`, so every layer there runs on the defaults; here the parameters apply.

Everything read is checked: a `ConfigError` names the field that is wrong and why."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

OPERATIONS = ("convolution", "separable_convolution", "depthwise_convolution", "reduction")
REDUCTIONS = ("max_pooling", "avg_pooling")
_DEFAULTS = {"num_filter": 64, "filter_size": 3, "stride": 1, "depth_multiplier": 1}
_LIMIT = 4096  # the largest filter count, size or multiplier a layer may ask for


class ConfigError(ValueError):
    """The architecture or nn_config is malformed; the message says where and why."""


def read_json(text: str, what: str) -> object:
    """A JSON assignment as Katib passes it: its double quotes written as single quotes,
    and, where Katib's examples quote it for the shell Katib's collector wraps the command
    in, between one pair of double quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    try:
        return json.loads(text.replace("'", '"'))
    except ValueError as err:
        raise ConfigError(f"{what} is not JSON ({err}): {text[:80]!r}") from err


@dataclass(frozen=True)
class Layer:
    opt_type: str
    params: Mapping[str, object]
    skips: tuple[int, ...]  # the earlier layers (0: the input) that feed this one


@dataclass(frozen=True)
class ChildConfig:
    layers: tuple[Layer, ...]
    input_sizes: tuple[int, int, int]  # height, width, channels
    classes: int


def parse(architecture: object, nn_config: object) -> ChildConfig:
    if not isinstance(nn_config, dict):
        raise ConfigError("nn_config must be a JSON object")
    num_layers = nn_config.get("num_layers")
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ConfigError(f"nn_config.num_layers must be a whole number >= 1, not {num_layers!r}")
    sizes = nn_config.get("input_sizes")
    if not isinstance(sizes, list) or not _whole_list(sizes) or len(sizes) != 3:
        raise ConfigError(f"nn_config.input_sizes must be [height, width, channels], not {sizes!r}")
    outputs = nn_config.get("output_sizes")
    if not isinstance(outputs, list) or not _whole_list(outputs) or not outputs:
        raise ConfigError(
            f"nn_config.output_sizes must be a list of whole numbers, not {outputs!r}"
        )
    embedding = nn_config.get("embedding")
    if not isinstance(embedding, dict):
        raise ConfigError("nn_config.embedding must be an object of operations by their id")
    if not isinstance(architecture, list) or len(architecture) != num_layers:
        raise ConfigError(
            f"architecture must be a list of {num_layers} layers (nn_config.num_layers)"
        )
    layers = []
    for index, layer in enumerate(architecture):
        where = f"architecture[{index}]"
        if not _whole_list(layer) or len(layer) != index + 1:
            raise ConfigError(f"{where} must be [operation id, then {index} skip bits of 0 or 1]")
        if any(bit not in (0, 1) for bit in layer[1:]):
            raise ConfigError(f"{where}: skip bits must be 0 or 1, not {layer[1:]}")
        entry = embedding.get(str(layer[0]))
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: operation {layer[0]} is not in nn_config.embedding")
        layers.append(_layer(entry, layer, f"nn_config.embedding[{str(layer[0])!r}]"))
    height, width, channels = sizes
    return ChildConfig(tuple(layers), (height, width, channels), outputs[-1])


def _whole_list(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1 << 20 for v in value
    )


def _layer(entry: Mapping[str, object], layer: Sequence[int], where: str) -> Layer:
    opt_type = entry.get("opt_type")
    if opt_type not in OPERATIONS:
        raise ConfigError(
            f"{where}.opt_type {opt_type!r} is not an operation these trainers build; "
            f"they build {', '.join(OPERATIONS)}"
        )
    raw = entry.get("opt_params", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}.opt_params must be an object")
    params: dict[str, object] = {}
    for name, value in raw.items():
        if name == "reduction_type":
            if value not in REDUCTIONS:
                raise ConfigError(f"{where}.opt_params.reduction_type must be one of {REDUCTIONS}")
            params[name] = value
            continue
        try:
            number = int(str(value))
        except ValueError as err:
            raise ConfigError(
                f"{where}.opt_params.{name} must be a whole number, not {value!r}"
            ) from err
        if not 1 <= number <= _LIMIT:
            raise ConfigError(f"{where}.opt_params.{name} must be in [1, {_LIMIT}], not {number}")
        params[name] = number
    skips = (len(layer) - 1, *(i for i, bit in enumerate(layer[1:]) if bit))
    return Layer(str(opt_type), params, tuple(sorted(set(skips))))


def _same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Pad as TensorFlow's "same": the output side is ceil(side / stride)."""
    pads = []
    for side in (x.shape[3], x.shape[2]):
        total = max((math.ceil(side / stride) - 1) * stride + kernel - side, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Operation(nn.Module):
    def __init__(self, layer: Layer, channels: int):
        super().__init__()
        p = {**_DEFAULTS, **layer.params}
        self.kind = layer.opt_type
        self.kernel, self.stride = int(p["filter_size"]), int(p["stride"])  # type: ignore[call-overload]
        multiplier = int(p["depth_multiplier"])  # type: ignore[call-overload]
        if self.kind == "reduction":
            self.pool = int(p.get("pool_size", 2))  # type: ignore[call-overload]
            self.pool_stride = int(layer.params.get("stride", self.pool))  # type: ignore[call-overload]
            self.average = p.get("reduction_type") == "avg_pooling"
            self.out_channels = channels
            return
        if self.kind == "convolution":
            out = int(p["num_filter"])  # type: ignore[call-overload]
            self.body: nn.Module = nn.Conv2d(channels, out, self.kernel, self.stride)
        elif self.kind == "separable_convolution":
            out = int(p["num_filter"])  # type: ignore[call-overload]
            self.body = nn.Sequential(
                nn.Conv2d(
                    channels, channels * multiplier, self.kernel, self.stride, groups=channels
                ),
                nn.Conv2d(channels * multiplier, out, 1),
            )
        else:
            out = channels * multiplier
            self.body = nn.Conv2d(channels, out, self.kernel, self.stride, groups=channels)
        self.norm = nn.BatchNorm2d(out)
        self.out_channels = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "reduction":
            if x.shape[2] < self.pool or x.shape[3] < self.pool:
                return x  # nothing left to reduce
            pool = F.avg_pool2d if self.average else F.max_pool2d
            return pool(x, self.pool, self.pool_stride)
        out: torch.Tensor = self.norm(self.body(_same_padding(F.relu(x), self.kernel, self.stride)))
        return out


def concat(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Inputs of several sizes as one: each zero-padded (centred) to the largest height
    and width, then stacked along the channels."""
    if len(inputs) == 1:
        return inputs[0]
    height = max(x.shape[2] for x in inputs)
    width = max(x.shape[3] for x in inputs)
    padded = []
    for x in inputs:
        dh, dw = height - x.shape[2], width - x.shape[3]
        padded.append(F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2]))
    return torch.cat(padded, dim=1)


class ChildNetwork(nn.Module):
    def __init__(self, config: ChildConfig):
        super().__init__()
        self.config = config
        channels = [config.input_sizes[2]]
        self.operations = nn.ModuleList()
        for layer in config.layers:
            operation = Operation(layer, sum(channels[i] for i in layer.skips))
            self.operations.append(operation)
            channels.append(operation.out_channels)
        self.classifier = nn.Linear(channels[-1], config.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for layer, operation in zip(self.config.layers, self.operations, strict=True):
            outputs.append(operation(concat([outputs[i] for i in layer.skips])))
        scores: torch.Tensor = self.classifier(outputs[-1].mean((2, 3)))
        return scores
