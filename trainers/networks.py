"""The digit classifiers: an MLP and a small CNN, sized by their arguments, for images of
any size (8x8 digits or 28x28 MNIST)."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


def mlp(
    inputs: int, hidden: int, layers: int, classes: int, activation: str, dropout: float
) -> nn.Module:
    """`layers` hidden layers of `hidden` units over flat inputs (flatten the images once,
    not every step)."""
    blocks: list[nn.Module] = []
    width = inputs
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        if dropout:
            blocks.append(nn.Dropout(dropout))
        width = hidden
    blocks.append(nn.Linear(width, classes))
    return nn.Sequential(*blocks)


def cnn(hidden: int, layers: int, classes: int, activation: str, dropout: float) -> nn.Module:
    """`layers` 3x3 convolution blocks (16, 32, 64, ... channels, the first two followed
    by 2x2 pooling), pooled to 2x2, then a hidden layer of `hidden` units."""
    blocks: list[nn.Module] = []
    channels = 1
    for index in range(layers):
        out = 16 * 2**index
        blocks += [nn.Conv2d(channels, out, 3, padding=1), ACTIVATIONS[activation]()]
        if index < 2:
            blocks.append(nn.MaxPool2d(2, ceil_mode=True))
        channels = out
    blocks += [
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        *([nn.Dropout(dropout)] if dropout else []),
        nn.Linear(channels * 4, hidden),
        ACTIVATIONS[activation](),
        nn.Linear(hidden, classes),
    ]
    return nn.Sequential(*blocks)


def initialize(model: nn.Module, scheme: str) -> None:
    if scheme == "default":
        return
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            if scheme == "xavier":
                nn.init.xavier_uniform_(module.weight)
            elif scheme == "kaiming":
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
            else:
                nn.init.normal_(module.weight, std=0.05)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def optimizer(
    name: str, parameters: list[torch.nn.Parameter], lr: float, momentum: float
) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, momentum=momentum)
    return torch.optim.Adam(parameters, lr=lr)
