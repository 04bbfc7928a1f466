"""The hand-written MLP step computes what autograd and torch.optim compute."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from trainers import networks
from trainers.fastmlp import FlatMLP, FlatOptimizer


def twins(
    activation: str, layers: int, hidden: int, dropout: float, seed: int
) -> tuple[nn.Module, nn.Module]:
    """Two copies of the same freshly initialized MLP over 12 inputs and 5 classes, in
    float64 so that rounding does not blur a real difference over many steps."""
    torch.manual_seed(seed)
    first = networks.mlp(12, hidden, layers, 5, activation, dropout).double()
    torch.manual_seed(seed)
    second = networks.mlp(12, hidden, layers, 5, activation, dropout).double()
    return first, second


def batch(seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(size, 12, generator=generator, dtype=torch.float64), torch.randint(
        5, (size,), generator=generator
    )


@settings(max_examples=40, deadline=None)
@given(
    activation=st.sampled_from(sorted(networks.ACTIVATIONS)),
    layers=st.integers(1, 3),
    hidden=st.integers(1, 9),
    dropout=st.sampled_from([0.0, 0.3]),
    size=st.integers(1, 17),
    seed=st.integers(0, 2**16),
)
def test_gradients_equal_autograd(
    activation: str, layers: int, hidden: int, dropout: float, size: int, seed: int
) -> None:
    reference, model = twins(activation, layers, hidden, dropout, seed)
    fast = FlatMLP(model, activation, dropout, "sgd", 0.1, 0.0)
    x, y = batch(seed, size)
    loss, masks = fast.gradients(x, nn.functional.one_hot(y, 5).double())

    # The same network under autograd, with dropout applied by the same masks.
    hidden_x = x
    linears = [m for m in reference.modules() if isinstance(m, nn.Linear)]
    for index, linear in enumerate(linears[:-1]):
        hidden_x = networks.ACTIVATIONS[activation]()(linear(hidden_x))
        if dropout:
            hidden_x = hidden_x * masks[index]
    expected = nn.functional.cross_entropy(linears[-1](hidden_x), y)
    expected.backward()  # type: ignore[no-untyped-call]

    assert len(masks) == (layers if dropout else 0)
    assert float(loss) / size == pytest.approx(expected.item(), rel=1e-9, abs=1e-12)
    for linear, fast_linear in zip(linears, fast.linears, strict=True):
        for name in ("weight", "bias"):
            reference_grad = getattr(linear, name).grad
            index = 2 * fast.linears.index(fast_linear) + (name == "bias")
            assert torch.allclose(fast.grads[index], reference_grad, rtol=1e-8, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    optimizer=st.sampled_from(["sgd", "rmsprop", "adam"]),
    activation=st.sampled_from(sorted(networks.ACTIVATIONS)),
    lr=st.sampled_from([0.001, 0.01, 0.1]),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    seed=st.integers(0, 2**16),
)
def test_training_follows_torch_optim_step_by_step(
    optimizer: str, activation: str, lr: float, momentum: float, seed: int
) -> None:
    reference, model = twins(activation, 2, 8, 0.0, seed)
    fast = FlatMLP(model, activation, 0.0, optimizer, lr, momentum)
    torch_optimizer = networks.optimizer(optimizer, list(reference.parameters()), lr, momentum)
    images, labels = batch(seed, 60)
    fast_order, reference_order = (torch.Generator().manual_seed(seed) for _ in range(2))
    for _ in range(3):
        fast_loss = fast.epoch(images, labels, 16, fast_order)
        order = torch.randperm(60, generator=reference_order)
        total = 0.0
        for start in range(0, 60, 16):
            picked = order[start : start + 16]
            torch_optimizer.zero_grad()
            loss = nn.functional.cross_entropy(reference(images[picked]), labels[picked])
            loss.backward()  # type: ignore[no-untyped-call]
            torch_optimizer.step()
            total += loss.item() * len(picked)
        assert fast_loss == pytest.approx(total / 60, rel=1e-8)
    for mine, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(mine, theirs, rtol=1e-7, atol=1e-9)


def test_the_module_sees_the_trained_parameters() -> None:
    _, model = twins("relu", 1, 6, 0.0, 3)
    fast = FlatMLP(model, "relu", 0.0, "adam", 0.05, 0.0)
    images, labels = batch(3, 40)
    before = model(images).detach().clone()
    fast.epoch(images, labels, 8, torch.Generator().manual_seed(0))
    assert not torch.equal(model(images), before)
    assert fast.params.data_ptr() == next(model.parameters()).data_ptr()
    assert sum(p.numel() for p in model.parameters()) == fast.params.numel()


def test_an_unknown_optimizer_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        FlatOptimizer("lbfgs", torch.zeros(3), 0.1, 0.0)
