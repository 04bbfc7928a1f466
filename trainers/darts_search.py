"""The DARTS search (Liu et al., 2019) as Katib's trial image runs it
(`darts-cnn-cifar10/model.py`, `operations.py`, `architect.py`, `search_space.py`): a
supernet of cells whose every edge mixes all the primitives of the search space by the
softmax of its architecture weights (alphas); a stem convolution; reduction cells (stride
2, channels doubled) at a third and two thirds of the layers (the second of two; none of
one); a global average and a linear classifier.

The search alternates the two levels of DARTS: the alphas step on the validation loss
through a virtual step of the weights (second-order: the Hessian-vector product by finite
differences, with the weights' momentum and weight decay), then the weights step on the
training loss (SGD with momentum, gradient clipping, a cosine learning rate down to
w_lr_min). The genotype keeps, for each node, its two strongest edges and each edge's
strongest primitive other than `none`.

Primitives: `none`, `skip_connection`, and `<kind>_<k>x<k>` for an odd k with kind
`max_pooling`, `avg_pooling`, `separable_convolution`, `dilated_convolution` or
`convolution`. Katib's trial image also trains the alphas with the weights' optimizer on
the training loss (its weights are all the parameters); here the weights are the weights
alone."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

KINDS = (
    "max_pooling",
    "avg_pooling",
    "separable_convolution",
    "dilated_convolution",
    "convolution",
)
_PRIMITIVE = re.compile(r"(?P<kind>[a-z_]+?)_(?P<k>\d{1,2})x(?P=k)")


class SearchSpaceError(ValueError):
    """A primitive these trainers cannot build; the message names it and what they build."""


def check_primitives(primitives: Sequence[str]) -> None:
    for primitive in primitives:
        if primitive in ("none", "skip_connection"):
            continue
        match = _PRIMITIVE.fullmatch(primitive)
        if match is None or match["kind"] not in KINDS or int(match["k"]) % 2 == 0:
            raise SearchSpaceError(
                f"search-space primitive {primitive!r} is not one these trainers build: "
                f"skip_connection, or <kind>_<k>x<k> with an odd k and kind {', '.join(KINDS)}"
            )


def _relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
        nn.BatchNorm2d(c_out, affine=False),
    )


def _dil_conv(channels: int, kernel: int, stride: int, dilation: int) -> nn.Module:
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(
            channels, channels, kernel, stride, padding, dilation, groups=channels, bias=False
        ),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels, affine=False),
    )


class FactorizedReduce(nn.Module):
    """Halve the height and width with two offset 1x1 convolutions of stride 2."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.norm = nn.BatchNorm2d(c_out, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], [0, 1, 0, 1])  # odd sides stay aligned
        out: torch.Tensor = self.norm(torch.cat([self.conv1(x), self.conv2(shifted)], dim=1))
        return out


class Zero(nn.Module):
    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride] * 0.0


class Pool(nn.Module):
    def __init__(self, kind: str, channels: int, kernel: int, stride: int):
        super().__init__()
        padding = kernel // 2
        self.pool: nn.Module = (
            nn.MaxPool2d(kernel, stride, padding)
            if kind == "max_pooling"
            else nn.AvgPool2d(kernel, stride, padding, count_include_pad=False)
        )
        self.norm = nn.BatchNorm2d(channels, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.norm(self.pool(x))
        return out


def build(primitive: str, channels: int, stride: int) -> nn.Module:
    if primitive == "none":
        return Zero(stride)
    if primitive == "skip_connection":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    match = _PRIMITIVE.fullmatch(primitive)
    assert match is not None  # check_primitives ran first
    kind, k = match["kind"], int(match["k"])
    if kind in ("max_pooling", "avg_pooling"):
        return Pool(kind, channels, k, stride)
    if kind == "separable_convolution":
        return nn.Sequential(_dil_conv(channels, k, stride, 1), _dil_conv(channels, k, 1, 1))
    if kind == "dilated_convolution":
        return _dil_conv(channels, k, stride, 2)
    return _relu_conv_bn(channels, channels, k, stride, k // 2)


class MixedOp(nn.Module):
    def __init__(self, primitives: Sequence[str], channels: int, stride: int):
        super().__init__()
        self.ops = nn.ModuleList(build(p, channels, stride) for p in primitives)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum((w * op(x) for w, op in zip(weights, self.ops, strict=True)), torch.zeros(()))


class Cell(nn.Module):
    def __init__(
        self,
        primitives: Sequence[str],
        nodes: int,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction_prev: bool,
        reduction: bool,
    ):
        super().__init__()
        self.reduction = reduction
        self.pre0: nn.Module = (
            FactorizedReduce(c_prev_prev, channels)
            if reduction_prev
            else _relu_conv_bn(c_prev_prev, channels, 1, 1, 0)
        )
        self.pre1 = _relu_conv_bn(c_prev, channels, 1, 1, 0)
        self.edges = nn.ModuleList(
            nn.ModuleList(
                MixedOp(primitives, channels, 2 if reduction and j < 2 else 1) for j in range(2 + i)
            )
            for i in range(nodes)
        )

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, weights: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node, w in zip(self.edges, weights, strict=True):
            edges = cast(nn.ModuleList, node)  # one edge per state before the node
            inputs = zip(edges, states, strict=False)
            states.append(
                sum((edge(s, w[j]) for j, (edge, s) in enumerate(inputs)), torch.zeros(()))
            )
        return torch.cat(states[2:], dim=1)


@dataclass(frozen=True)
class SupernetShape:
    primitives: tuple[str, ...]  # `none` last, as Katib's search space appends it
    layers: int
    nodes: int
    init_channels: int
    stem_multiplier: int
    input_channels: int
    classes: int


class Supernet(nn.Module):
    def __init__(self, shape: SupernetShape):
        super().__init__()
        self.shape = shape
        channels = shape.stem_multiplier * shape.init_channels
        self.stem = nn.Sequential(
            nn.Conv2d(shape.input_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        c_prev_prev, c_prev, current = channels, channels, shape.init_channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        for index in range(shape.layers):
            reduction = (shape.layers == 2 and index == 1) or (
                shape.layers > 2 and index in (shape.layers // 3, 2 * shape.layers // 3)
            )
            if reduction:
                current *= 2
            self.cells.append(
                Cell(
                    shape.primitives,
                    shape.nodes,
                    c_prev_prev,
                    c_prev,
                    current,
                    reduction_prev,
                    reduction,
                )
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, current * shape.nodes
        self.classifier = nn.Linear(c_prev, shape.classes)
        count = len(shape.primitives)
        self.alpha_normal = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(i + 2, count)) for i in range(shape.nodes)
        )
        self.alpha_reduce = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(i + 2, count))
            for i in range(shape.nodes if shape.layers > 1 else 0)
        )

    def weights(self) -> Iterator[nn.Parameter]:
        return (p for name, p in self.named_parameters() if not name.startswith("alpha_"))

    def alphas(self) -> Iterator[nn.Parameter]:
        return (p for name, p in self.named_parameters() if name.startswith("alpha_"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normal = [F.softmax(a, dim=-1) for a in self.alpha_normal]
        reduce = [F.softmax(a, dim=-1) for a in self.alpha_reduce]
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        scores: torch.Tensor = self.classifier(s1.mean((2, 3)))
        return scores

    def genotype(self) -> str:
        """Katib's `Genotype(normal=[[('op', edge), ...], ...], normal_concat=range(2, n),
        reduce=..., reduce_concat=...)`, without spaces as its trial image prints it."""
        concat = f"range(2, {2 + self.shape.nodes})"
        text = (
            f"Genotype(normal={self._gene(self.alpha_normal)}, normal_concat={concat}, "
            f"reduce={self._gene(self.alpha_reduce)}, reduce_concat={concat})"
        )
        return text.replace(" ", "")

    def _gene(self, alphas: nn.ParameterList) -> list[list[tuple[str, int]]]:
        gene = []
        for edges in alphas:
            strength, best = edges[:, :-1].max(dim=1)  # `none` is last and never chosen
            top = strength.topk(min(2, len(strength))).indices.tolist()
            gene.append([(self.shape.primitives[int(best[e])], int(e)) for e in top])
        return gene


class Architect:
    """The alphas' step: the gradient of the validation loss after a virtual step of the
    weights, with the second-order term by finite differences (DARTS, eq. 7 and 8)."""

    def __init__(self, model: Supernet, momentum: float, weight_decay: float):
        self.model, self.virtual = model, copy.deepcopy(model)
        self.momentum, self.weight_decay = momentum, weight_decay

    def backward(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        valid: tuple[torch.Tensor, torch.Tensor],
        lr: float,
        w_optim: torch.optim.Optimizer,
    ) -> None:
        model, virtual = self.model, self.virtual
        weights = list(model.weights())
        grads = torch.autograd.grad(F.cross_entropy(model(train[0]), train[1]), weights)
        with torch.no_grad():
            for w, vw, g in zip(weights, virtual.weights(), grads, strict=True):
                buffer = w_optim.state.get(w, {}).get("momentum_buffer")
                m = buffer * self.momentum if buffer is not None else 0.0
                vw.copy_(w - lr * (m + g + self.weight_decay * w))
            for a, va in zip(model.alphas(), virtual.alphas(), strict=True):
                va.copy_(a)
        v_alphas, v_weights = list(virtual.alphas()), list(virtual.weights())
        loss = F.cross_entropy(virtual(valid[0]), valid[1])
        v_grads = torch.autograd.grad(loss, v_alphas + v_weights, allow_unused=True)
        dalpha = v_grads[: len(v_alphas)]
        dws = [
            torch.zeros_like(w) if g is None else g
            for g, w in zip(v_grads[len(v_alphas) :], v_weights, strict=True)
        ]
        hessian = self._hessian(dws, train)
        for alpha, da, h in zip(model.alphas(), dalpha, hessian, strict=True):
            alpha.grad = (torch.zeros_like(alpha) if da is None else da) - lr * h

    def _hessian(
        self, dws: Sequence[torch.Tensor], train: tuple[torch.Tensor, torch.Tensor]
    ) -> list[torch.Tensor]:
        model = self.model
        weights, alphas = list(model.weights()), list(model.alphas())
        norm = torch.cat([dw.flatten() for dw in dws]).norm()
        eps = 0.01 / max(float(norm), 1e-12)
        sides = []
        for sign in (1.0, -2.0):
            with torch.no_grad():
                for w, dw in zip(weights, dws, strict=True):
                    w.add_(sign * eps * dw)
            loss = F.cross_entropy(model(train[0]), train[1])
            sides.append(torch.autograd.grad(loss, alphas))
        with torch.no_grad():
            for w, dw in zip(weights, dws, strict=True):
                w.add_(eps * dw)
        return [(p - n) / (2 * eps) for p, n in zip(sides[0], sides[1], strict=True)]
