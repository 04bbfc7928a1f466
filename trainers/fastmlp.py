"""The MLP's training step written out by hand: the same model, loss and optimizers as
`torch.nn` and `torch.optim`, at a fraction of their per-step cost for a network this small.

For a digits-sized MLP a batch's arithmetic takes a few microseconds; what costs is the
bookkeeping around it (autograd's graph, the optimizer's per-parameter loops). Here the
parameters of an `networks.mlp` model are moved into one flat tensor (the module keeps
working on views of it), the gradients of the mean cross-entropy are computed directly
into a second flat tensor, and the optimizer updates the whole vector with a handful of
tensor operations, following torch.optim's formulas for SGD (momentum), RMSprop and Adam
with their default settings. tests/trainers/test_fastmlp.py holds it to autograd and
torch.optim, step by step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from trainers import networks

aten = torch.ops.aten

# Each activation's forward and its backward from the saved tensor it needs: the output
# where the derivative is a function of the output, the input otherwise.
Backward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], bool, Backward]] = {
    "relu": (torch.relu_, True, lambda grad, out: aten.threshold_backward(grad, out, 0)),
    "tanh": (torch.tanh_, True, lambda grad, out: aten.tanh_backward(grad, out)),
    "sigmoid": (torch.sigmoid_, True, lambda grad, out: aten.sigmoid_backward(grad, out)),
    "leaky_relu": (
        lambda h: nn.functional.leaky_relu(h, 0.01),
        False,
        lambda grad, h: aten.leaky_relu_backward(grad, h, 0.01, False),
    ),
    "gelu": (nn.functional.gelu, False, lambda grad, h: aten.gelu_backward(grad, h)),
}
assert ACTIVATIONS.keys() == networks.ACTIVATIONS.keys()


class FlatOptimizer:
    """torch.optim's update rule on one flat parameter vector (defaults: SGD with
    dampening 0 and no Nesterov; RMSprop alpha 0.99, eps 1e-8; Adam betas (0.9, 0.999),
    eps 1e-8; no weight decay)."""

    def __init__(self, name: str, params: torch.Tensor, lr: float, momentum: float) -> None:
        if name not in ("sgd", "rmsprop", "adam"):
            raise ValueError(f"unknown optimizer {name!r}: use sgd, rmsprop or adam")
        self.name, self.params, self.lr, self.momentum = name, params, lr, momentum
        self.steps = 0
        self.first = torch.zeros_like(params)  # momentum buffer / Adam's first moment
        self.second = torch.zeros_like(params)  # squared average / Adam's second moment

    def state(self) -> dict[str, object]:
        return {"steps": self.steps, "first": self.first, "second": self.second}

    def load(self, state: dict[str, object]) -> None:
        """Continue from `state()` (the learning rate stays this optimizer's own)."""
        first, second = state["first"], state["second"]
        assert isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor)
        if first.shape != self.first.shape:
            raise ValueError(
                f"optimizer state for {first.numel()} parameters, not {self.first.numel()}"
            )
        self.steps = int(state["steps"])  # type: ignore[call-overload]
        self.first.copy_(first)
        self.second.copy_(second)

    def step(self, grad: torch.Tensor) -> None:
        self.steps += 1
        if self.name == "sgd":
            if self.momentum:
                self.first.mul_(self.momentum).add_(grad)  # first step: the buffer is the gradient
                grad = self.first
            self.params.add_(grad, alpha=-self.lr)
        elif self.name == "rmsprop":
            alpha = 0.99
            self.second.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            average = self.second.sqrt().add_(1e-8)
            if self.momentum:
                self.first.mul_(self.momentum).addcdiv_(grad, average)
                self.params.add_(self.first, alpha=-self.lr)
            else:
                self.params.addcdiv_(grad, average, value=-self.lr)
        else:
            beta1, beta2 = 0.9, 0.999
            self.first.lerp_(grad, 1 - beta1)
            self.second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            correction2 = math.sqrt(1 - beta2**self.steps)
            denominator = (self.second.sqrt() / correction2).add_(1e-8)
            self.params.addcdiv_(self.first, denominator, value=-self.lr / (1 - beta1**self.steps))


class FlatMLP:
    """Trains a `networks.mlp` module in place. The module's parameters become views of
    `self.params`; evaluate it as usual (`model.eval()`, `model(x)`)."""

    def __init__(
        self,
        model: nn.Module,
        activation: str,
        dropout: float,
        optimizer: str,
        lr: float,
        momentum: float,
    ) -> None:
        self.model = model
        self.linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
        self.activate, self.keeps_output, self.derive = ACTIVATIONS[activation]
        self.dropout = dropout
        tensors = [p for linear in self.linears for p in (linear.weight, linear.bias)]
        self.params = torch.cat([p.detach().reshape(-1) for p in tensors])
        self.grad = torch.zeros_like(self.params)
        values = self._views(self.params, tensors)
        for p, view in zip(tensors, values, strict=True):
            p.data = view
        self.grads = self._views(self.grad, tensors)
        # Plain tensors, looked up once: reading a module's attribute costs more than the
        # arithmetic of a small layer. Per layer: weight, bias, their gradients.
        self.layers = [
            (values[i], values[i + 1], self.grads[i], self.grads[i + 1])
            for i in range(0, len(values), 2)
        ]
        self.optimizer = FlatOptimizer(optimizer, self.params, lr, momentum)
        self.classes = self.linears[-1].out_features

    def state(self) -> dict[str, object]:
        return self.optimizer.state()

    def load(self, state: dict[str, object]) -> None:
        self.optimizer.load(state)

    @staticmethod
    def _views(flat: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
        views, offset = [], 0
        for p in like:
            views.append(flat[offset : offset + p.numel()].view(p.shape))
            offset += p.numel()
        return views

    def gradients(
        self, x: torch.Tensor, targets: torch.Tensor, masks: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Fill `self.grad` with the gradient of the batch's mean cross-entropy (no
        autograd: every operand is a plain tensor, the parameters' flat storage); return
        the summed loss (a 0-d tensor) and the dropout masks used (scaled by 1/keep).
        `targets` are one-hot rows; `masks`, if given, replace fresh random ones."""
        inputs, saved, used = [x], [], []
        keep = 1 - self.dropout
        hidden = self.layers[:-1]
        for index, (weight, bias, _, _) in enumerate(hidden):
            pre = torch.addmm(bias, inputs[-1], weight.t())
            out = self.activate(pre)
            saved.append(out if self.keeps_output else pre)
            if self.dropout:
                mask = (
                    masks[index]
                    if masks is not None
                    else torch.empty_like(out).bernoulli_(keep).div_(keep)
                )
                used.append(mask)
                out = out * mask
            inputs.append(out)
        weight, bias, _, _ = self.layers[-1]
        log_probs = torch.addmm(bias, inputs[-1], weight.t()).log_softmax(1)
        loss = -torch.vdot(log_probs.view(-1), targets.view(-1))
        grad = log_probs.exp_().sub_(targets).div_(len(x))
        for index in range(len(self.layers) - 1, -1, -1):
            weight, _, weight_grad, bias_grad = self.layers[index]
            torch.mm(grad.t(), inputs[index], out=weight_grad)
            torch.sum(grad, 0, out=bias_grad)
            if index:
                grad = grad.mm(weight)
                if self.dropout:
                    grad.mul_(used[index - 1])
                grad = self.derive(grad, saved[index - 1])
        return loss, used

    @torch.no_grad()
    def epoch(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        generator: torch.Generator,
    ) -> float:
        """One pass in shuffled batches; the mean training loss."""
        self.model.train()
        targets = nn.functional.one_hot(labels, self.classes).to(images.dtype)
        order = torch.randperm(len(labels), generator=generator)
        total = torch.zeros((), dtype=images.dtype)
        step, grad = self.optimizer.step, self.grad
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss, _ = self.gradients(images.index_select(0, batch), targets.index_select(0, batch))
            total += loss
            step(grad)
        return float(total) / len(labels)
