"""enas: the ENAS controller (Pham et al., 2018) as Katib's suggestion service configures
it (`nas/enas/Controller.py`), in torch. An LSTM policy picks, layer by layer, one choice
of the search space (`generator.katib.nas`) and, through attention over the earlier
layers, which of them skip into this one; it learns by REINFORCE from the finished
trials' objective, with an exponential-average baseline, an entropy bonus in the reward and
a KL penalty that keeps the skip rate near its target.

Katib's semantics kept: its settings and their defaults, the policy's shape and
initialisation (uniform in ±0.01), temperature then tanh on the logits, Adam with the
settings' learning rate for `controller_train_steps` steps per update, the reward negated
for a minimised objective. Katib's bugs left out (docs/katib-compatibility.md): there, each
update rewards freshly sampled architectures with the average objective of every trial so
far, so no trial's result reaches the architecture that earned it; here each finished
trial's own architecture is reinforced with its own objective. Its policy lives in a file
of the suggestion pod and starts again from random after a restart; here it is rebuilt by
training on the finished trials. A run whose trials all failed stops suggesting there; here
failed trials teach nothing and the search goes on.

Sampling is batched (every architecture of a request in one pass of the LSTM, without
autograd) and an update computes the log-probabilities of all the new trials' architectures
in one pass; `bench/enas_policy.py` measures both against the same step written one
architecture at a time with autograd defaults."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from controller.algorithms.base import MAX_ASKS, Assignments
from generator.katib.models import GraphConfig, Operation
from generator.katib.nas import architecture_of, architecture_size, choices, enas_assignments

log = logging.getLogger("hpo-controller")
# The largest space whose last unsuggested architectures are found by listing them all.
_ENUMERABLE = 1 << 16


@dataclass(frozen=True)
class EnasSettings:
    """Katib's enas settings; None where Katib allows "None" (the term is left out)."""

    hidden_size: int = 64
    temperature: float | None = 5.0
    tanh_const: float | None = 2.25
    entropy_weight: float | None = 1e-5
    baseline_decay: float = 0.999
    learning_rate: float = 5e-5
    skip_target: float = 0.4
    skip_weight: float | None = 0.8
    train_steps: int = 50
    log_every_steps: int = 10

    @classmethod
    def parse(cls, settings: Mapping[str, str]) -> EnasSettings:
        """From the experiment's settings (validated already: names and ranges)."""

        def real(name: str, default: float | None) -> float | None:
            text = settings.get(f"controller_{name}")
            if text is None:
                return default
            return None if text == "None" else float(text)

        def whole(name: str, default: int) -> int:
            text = settings.get(f"controller_{name}")
            return int(text) if text is not None else default

        defaults = cls()
        return cls(
            hidden_size=whole("hidden_size", defaults.hidden_size),
            temperature=real("temperature", defaults.temperature),
            tanh_const=real("tanh_const", defaults.tanh_const),
            entropy_weight=real("entropy_weight", defaults.entropy_weight),
            baseline_decay=real("baseline_decay", defaults.baseline_decay) or 0.999,
            learning_rate=real("learning_rate", defaults.learning_rate) or 5e-5,
            skip_target=real("skip_target", defaults.skip_target) or 0.4,
            skip_weight=real("skip_weight", defaults.skip_weight),
            train_steps=whole("train_steps", defaults.train_steps),
            log_every_steps=whole("log_every_steps", defaults.log_every_steps),
        )


@dataclass(frozen=True)
class Rollout:
    """A batch of architectures and what the policy says of them. `arcs` holds each
    architecture's tokens: per layer its choice, then one 0/1 per earlier layer."""

    arcs: torch.Tensor  # (batch, tokens), int64
    log_prob: torch.Tensor  # (batch,): log-probability of each architecture
    entropy: torch.Tensor  # (batch,): Katib's sample entropy, without gradient
    skip_penalty: torch.Tensor  # (batch,): KL of the skip probabilities from the target
    skip_count: torch.Tensor  # (batch,)


class Policy(nn.Module):
    """The ENAS LSTM policy (Katib's `Controller`), over `num_choices` choices per layer."""

    def __init__(
        self,
        num_layers: int,
        num_choices: int,
        settings: EnasSettings,
        generator: torch.Generator,
    ):
        super().__init__()
        self.num_layers, self.settings = num_layers, settings
        size = settings.hidden_size

        def weight(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.rand(*shape, generator=generator) * 0.02 - 0.01)

        self.w_lstm = weight(2 * size, 4 * size)
        self.g_emb = weight(1, size)
        self.w_emb = weight(num_choices, size)
        self.w_soft = weight(size, num_choices)
        self.attn_w_1 = weight(size, size)
        self.attn_w_2 = weight(size, size)
        self.attn_v = weight(size, 1)
        target = settings.skip_target
        self.skip_targets = torch.tensor([1.0 - target, target])

    def _lstm(
        self, x: torch.Tensor, c: torch.Tensor, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        gates = torch.cat([x, h], dim=1) @ self.w_lstm
        i, f, o, g = gates.chunk(4, dim=1)
        c = torch.sigmoid(i) * torch.tanh(g) + torch.sigmoid(f) * c
        return c, torch.sigmoid(o) * torch.tanh(c)

    def _shape(self, logits: torch.Tensor) -> torch.Tensor:
        if self.settings.temperature is not None:
            logits = logits / self.settings.temperature
        if self.settings.tanh_const is not None:
            logits = self.settings.tanh_const * torch.tanh(logits)
        return logits

    def forward(
        self,
        batch: int,
        forced: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Rollout:
        """Sample `batch` architectures, or with `forced` (batch, tokens) score those."""
        size = self.settings.hidden_size
        c = torch.zeros(batch, size)
        h = torch.zeros(batch, size)
        inputs = self.g_emb.expand(batch, size)
        tokens: list[torch.Tensor] = []
        log_probs: list[torch.Tensor] = []
        entropies: list[torch.Tensor] = []
        penalties: list[torch.Tensor] = []
        counts: list[torch.Tensor] = []
        all_h: list[torch.Tensor] = []
        all_h_w: list[torch.Tensor] = []
        position = 0
        for layer in range(self.num_layers):
            c, h = self._lstm(inputs, c, h)
            logits = self._shape(h @ self.w_soft)
            if forced is None:
                choice = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
            else:
                choice = forced[:, position]
            position += 1
            tokens.append(choice.unsqueeze(1))
            chosen = logits.log_softmax(-1).gather(1, choice.unsqueeze(1)).squeeze(1)
            log_probs.append(chosen)
            entropies.append((-chosen * chosen.exp()).detach())
            inputs = self.w_emb[choice]
            c, h = self._lstm(inputs, c, h)
            if layer > 0:
                earlier = torch.stack(all_h_w, dim=1)  # (batch, layer, size)
                query = torch.tanh(earlier + (h @ self.attn_w_2).unsqueeze(1)) @ self.attn_v
                skip_logits = self._shape(torch.cat([-query, query], dim=2))  # (b, layer, 2)
                if forced is None:
                    flat = skip_logits.softmax(-1).reshape(-1, 2)
                    skips = torch.multinomial(flat, 1, generator=generator).reshape(batch, layer)
                else:
                    skips = forced[:, position : position + layer]
                position += layer
                tokens.append(skips)
                skip_log = skip_logits.log_softmax(-1).gather(2, skips.unsqueeze(2)).squeeze(2)
                log_probs.append(skip_log.sum(1))
                entropies.append((-skip_log * skip_log.exp()).sum(1).detach())
                probability = torch.sigmoid(skip_logits)
                penalties.append(
                    (probability * torch.log(probability / self.skip_targets)).sum((1, 2))
                )
                weights = skips.to(h.dtype)
                counts.append(weights.sum(1))
                inputs = (weights.unsqueeze(1) @ torch.stack(all_h, dim=1)).squeeze(1)
                inputs = inputs / (1.0 + weights.sum(1, keepdim=True))
            else:
                inputs = self.g_emb.expand(batch, size)
            all_h.append(h)
            all_h_w.append(h @ self.attn_w_1)
        zero = torch.zeros(batch)
        return Rollout(
            torch.cat(tokens, dim=1),
            torch.stack(log_probs).sum(0),
            torch.stack(entropies).sum(0),
            torch.stack(penalties).mean(0) if penalties else zero,
            torch.stack(counts).sum(0) if counts else zero,
        )


class PolicyTrainer:
    """The policy with its Adam optimizer and baseline: `update` is Katib's
    `controller_train_steps` steps of REINFORCE on a batch of (architecture, reward)."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.settings = policy.settings
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=self.settings.learning_rate)
        self.baseline = 0.0
        self.steps = 0

    def update(self, arcs: torch.Tensor, rewards: torch.Tensor) -> float:
        """Train on the architectures `arcs` (batch, tokens) that earned `rewards`; the
        last step's loss."""
        settings, loss_value = self.settings, math.nan
        normalize = max(self.policy.num_layers * (self.policy.num_layers - 1) / 2, 1)
        for _ in range(settings.train_steps):
            rollout = self.policy(len(arcs), forced=arcs)
            reward = rewards
            if settings.entropy_weight is not None:
                reward = reward + settings.entropy_weight * rollout.entropy
            self.baseline -= (1 - settings.baseline_decay) * (self.baseline - reward.mean().item())
            loss = (-rollout.log_prob * (reward - self.baseline)).mean()
            if settings.skip_weight is not None:
                loss = loss + settings.skip_weight * rollout.skip_penalty.mean()
            self.optimizer.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), math.inf)
            self.optimizer.step()
            self.steps += 1
            loss_value = loss.item()
            if self.steps % settings.log_every_steps == 0:
                log.debug(
                    "enas: policy step %d: loss %.4f, entropy %.6g, gradient norm %.6f, "
                    "baseline %.4f, skip rate %.4f",
                    self.steps,
                    loss_value,
                    rollout.entropy.mean().item(),
                    norm.item(),
                    self.baseline,
                    rollout.skip_count.mean().item() / normalize,
                )
        return loss_value


def layers_of(tokens: Sequence[int], num_layers: int) -> list[list[int]]:
    """Flat tokens as Katib's `architecture`: per layer [choice, skip_0, ..., skip_{l-1}]."""
    layers, position = [], 0
    for layer in range(num_layers):
        layers.append(list(tokens[position : position + layer + 1]))
        position += layer + 1
    return layers


class EnasSuggester:
    """enas behind the `Suggester` protocol: architectures as Katib's assignments, never
    one suggested before; finished trials are learnt from at the next request."""

    def __init__(
        self,
        graph: GraphConfig,
        operations: Sequence[Operation],
        settings: Mapping[str, str],
        goal: str,
        seed: int | None,
    ):
        self.graph = graph
        self.num_layers = int(graph.num_layers or 0)
        self.space = choices(operations)
        self.sign = -1.0 if goal == "minimize" else 1.0
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        self.trainer = PolicyTrainer(
            Policy(self.num_layers, len(self.space), EnasSettings.parse(settings), self.generator)
        )
        self._size = architecture_size(self.num_layers, len(self.space))
        self._seen: set[tuple[int, ...]] = set()
        self._learnt: list[tuple[tuple[int, ...], float]] = []
        self.exhausted = False

    def _tokens(self, assignments: Assignments) -> tuple[int, ...] | None:
        text = dict(assignments).get("architecture")
        if text is None:
            return None
        try:
            layers = architecture_of(text, self.num_layers, len(self.space))
        except ValueError as err:
            log.warning("enas: a trial's architecture does not fit the search space: %s", err)
            return None
        return tuple(token for layer in layers for token in layer)

    def suggest(self, count: int) -> list[Assignments]:
        self._learn()
        found: list[tuple[int, ...]] = []
        for _ in range(MAX_ASKS):
            if len(found) >= count or self._used_up():
                break
            with torch.no_grad():
                arcs = self.trainer.policy(count - len(found), generator=self.generator).arcs
            for row in arcs.tolist():
                tokens = tuple(row)
                if tokens not in self._seen and len(found) < count:
                    self._seen.add(tokens)
                    found.append(tokens)
        # The policy keeps to architectures run already: take neighbours of what it
        # prefers (one token of its own drawn again at random), then any architecture.
        for attempt in range(2 * MAX_ASKS * count):
            if len(found) >= count or self._used_up():
                break
            tokens = self._neighbour() if attempt < MAX_ASKS * count else self._uniform()
            if tokens not in self._seen:
                self._seen.add(tokens)
                found.append(tokens)
        if len(found) < count and self._size is not None and self._size <= _ENUMERABLE:
            for tokens in self._all():  # a few left in a small space: find them in order
                if len(found) >= count:
                    break
                if tokens not in self._seen:
                    self._seen.add(tokens)
                    found.append(tokens)
        if self._used_up():
            self.exhausted = True
        return [
            enas_assignments(layers_of(tokens, self.num_layers), self.graph, self.space)
            for tokens in found
        ]

    def _neighbour(self) -> tuple[int, ...]:
        with torch.no_grad():
            tokens = self.trainer.policy(1, generator=self.generator).arcs[0].tolist()
        position = int(torch.randint(len(tokens), (1,), generator=self.generator))
        starts = {layer * (layer + 1) // 2 for layer in range(self.num_layers)}  # choices
        width = len(self.space) if position in starts else 2
        tokens[position] = int(torch.randint(width, (1,), generator=self.generator))
        return tuple(tokens)

    def _uniform(self) -> tuple[int, ...]:
        tokens: list[int] = []
        for layer in range(self.num_layers):
            tokens.append(int(torch.randint(len(self.space), (1,), generator=self.generator)))
            tokens += torch.randint(2, (layer,), generator=self.generator).tolist()
        return tuple(tokens)

    def _all(self) -> Iterator[tuple[int, ...]]:
        ranges = []
        for layer in range(self.num_layers):
            ranges += [range(len(self.space))] + [range(2)] * layer
        return itertools.product(*ranges)

    def _used_up(self) -> bool:
        return self._size is not None and len(self._seen) >= self._size

    def observe(self, assignments: Assignments, value: float | None) -> None:
        tokens = self._tokens(assignments)
        if tokens is None or value is None or not math.isfinite(value):
            return  # a failed trial teaches the policy nothing
        self._learnt.append((tokens, self.sign * value))

    def _learn(self) -> None:
        if not self._learnt:
            return
        arcs = torch.tensor([tokens for tokens, _ in self._learnt], dtype=torch.int64)
        rewards = torch.tensor([reward for _, reward in self._learnt], dtype=torch.float32)
        self._learnt = []
        self.trainer.update(arcs, rewards)

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        for assignments, value in history:
            self.reserve(assignments)
            self.observe(assignments, value)
        self._learn()

    def reserve(self, assignments: Assignments) -> None:
        tokens = self._tokens(assignments)
        if tokens is not None:
            self._seen.add(tokens)
