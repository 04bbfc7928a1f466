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


def cnn(
    size: int, hidden: int, layers: int, classes: int, activation: str, dropout: float
) -> nn.Module:
    """For `size` x `size` images: `layers` blocks of a 3x3 convolution (32, 64, 128, ...
    channels), batch normalization and the activation, each followed by 2x2 max pooling
    while the image is larger than 4x4 (an 8x8 digit is pooled once, a 28x28 one twice);
    the feature map averaged to 4x4, then a hidden layer of `hidden` units. Normalized
    convolutions learn from the first epoch at the learning rates the MLP takes."""
    blocks: list[nn.Module] = []
    channels, side = 1, size
    for index in range(layers):
        out = 32 * 2 ** min(index, 2)
        blocks += [
            nn.Conv2d(channels, out, 3, padding=1, bias=False),
            nn.BatchNorm2d(out),
            ACTIVATIONS[activation](),
        ]
        if side > 4:
            blocks.append(nn.MaxPool2d(2, ceil_mode=True))
            side = (side + 1) // 2
        channels = out
    blocks += [
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        *([nn.Dropout(dropout)] if dropout else []),
        nn.Linear(channels * 16, hidden),
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
