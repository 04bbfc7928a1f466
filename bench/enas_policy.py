"""The ENAS controller's own cost: sampling a batch of architectures, and one policy update
on 100 finished trials (Katib's `controller_train_steps`, 50 by default), as hpo-controller
does them (`controller.algorithms.enas`: the batch in one pass of the LSTM without
autograd; the update over all 100 architectures in one pass per step, on one thread)
side by side with the same steps written with autograd defaults (one architecture at a
time, as Katib's TensorFlow graph samples them, with gradients tracked, one backward pass
per trial, torch's default thread count), in one run, on the same policy and the same
trials.

    python bench/enas_policy.py [--layers 8] [--batch 10] [--trials 100] [--rounds 5]

The search space is the katib-enas example's (`spec/nas.py`: 8 layers; 30 convolutions
and 4 reductions per layer). Before timing, one step of each from the same start is checked
to have the same gradients, so the figures compare the same computation.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path
from statistics import median

import torch

from controller.algorithms.enas import EnasSettings, Policy, PolicyTrainer, Rollout
from generator.katib.nas import choices

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's spec/
from spec.nas import enas_search

SPEC = enas_search.spec.nas_config
assert SPEC is not None
OPERATIONS = SPEC.operations


def naive_sample(policy: Policy, batch: int, generator: torch.Generator) -> torch.Tensor:
    """One architecture at a time, autograd on."""
    return torch.cat([policy(1, generator=generator).arcs for _ in range(batch)])


def naive_update(trainer: PolicyTrainer, arcs: torch.Tensor, rewards: torch.Tensor) -> None:
    """The same REINFORCE steps as `PolicyTrainer.update`, one trial's forward and backward
    at a time, the gradients summed."""
    settings, policy = trainer.settings, trainer.policy
    count = len(arcs)
    for _ in range(settings.train_steps):
        rollouts: list[Rollout] = [policy(1, forced=arcs[i : i + 1]) for i in range(count)]
        reward = rewards + (settings.entropy_weight or 0.0) * torch.cat(
            [r.entropy for r in rollouts]
        )
        trainer.baseline -= (1 - settings.baseline_decay) * (
            trainer.baseline - reward.mean().item()
        )
        trainer.optimizer.zero_grad()
        for i, rollout in enumerate(rollouts):
            loss = -rollout.log_prob[0] * (reward[i] - trainer.baseline) / count
            if settings.skip_weight is not None:
                loss = loss + settings.skip_weight * rollout.skip_penalty[0] / count
            loss.backward(retain_graph=False)  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(policy.parameters(), math.inf)
        trainer.optimizer.step()


def trials(layers: int, width: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    policy = Policy(layers, width, EnasSettings(), generator)
    with torch.no_grad():
        arcs = policy(count, generator=generator).arcs
    return arcs, torch.rand(count, generator=generator)


def timed(action, rounds: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return median(times)


def measure(
    start: Policy,
    arcs: torch.Tensor,
    rewards: torch.Tensor,
    args: argparse.Namespace,
    batched: bool,
    threads: int,
) -> tuple[float, float]:
    """Median seconds to sample a batch and to update on the trials, one way or the other."""
    torch.set_num_threads(threads)
    policy = copy.deepcopy(start)
    trainer = PolicyTrainer(policy)
    generator = torch.Generator().manual_seed(2)

    def sample() -> None:
        if batched:
            with torch.no_grad():
                policy(args.batch, generator=generator)
        else:
            naive_sample(policy, args.batch, generator)

    def update() -> None:
        if batched:
            trainer.update(arcs, rewards)
        else:
            naive_update(trainer, arcs, rewards)

    return timed(sample, args.rounds * 4), timed(update, args.rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=10, help="architectures per request")
    parser.add_argument("--trials", type=int, default=100, help="finished trials per update")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    width = len(choices(OPERATIONS or []))
    settings = EnasSettings()
    arcs, rewards = trials(args.layers, width, args.trials, seed=1)
    start = Policy(args.layers, width, settings, torch.Generator().manual_seed(0))

    # The same computation: one step each from the same start has the same gradients
    # (Adam's first moment after one step is a fixed multiple of the gradient).
    one = EnasSettings(train_steps=1)
    ours, theirs = copy.deepcopy(start), copy.deepcopy(start)
    ours.settings = theirs.settings = one
    our_trainer, their_trainer = PolicyTrainer(ours), PolicyTrainer(theirs)
    our_trainer.update(arcs, rewards)
    naive_update(their_trainer, arcs, rewards)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        ours_m = our_trainer.optimizer.state[a]["exp_avg"]
        theirs_m = their_trainer.optimizer.state[b]["exp_avg"]
        assert torch.allclose(ours_m, theirs_m, rtol=1e-3, atol=1e-10), "the gradients differ"

    default_threads = torch.get_num_threads()
    results = {
        "autograd defaults": measure(
            start, arcs, rewards, args, batched=False, threads=default_threads
        ),
        "hpo-controller": measure(start, arcs, rewards, args, batched=True, threads=1),
    }
    torch.set_num_threads(default_threads)
    print(
        f"ENAS policy: {args.layers} layers, {width} choices per layer, hidden size "
        f"{settings.hidden_size}, {settings.train_steps} train steps; "
        f"median of {args.rounds} rounds"
    )
    print(f"{'':20} {'sample ' + str(args.batch):>12} {'update on ' + str(args.trials):>16}")
    for name, (sample_s, update_s) in results.items():
        print(f"{name:20} {sample_s * 1000:10.1f} ms {update_s * 1000:14.0f} ms")
    (base_sample, base_update), (our_sample, our_update) = results.values()
    print(f"{'speed-up':20} {base_sample / our_sample:11.1f}x {base_update / our_update:15.1f}x")


if __name__ == "__main__":
    main()
