"""The ENAS controller: architectures inside the search space as Katib's assignments, never
one twice, the same seed giving the same sequence; a policy that learns which choices earn
the reward (each trial's own, negated for a minimised objective); a rebuild from the
finished trials after a restart; failed trials and foreign architectures ignored; a small
space that is used up ends the suggestions."""

from __future__ import annotations

import json

import pytest
import torch

from controller.algorithms.base import Assignments
from controller.algorithms.enas import EnasSettings, EnasSuggester, Policy
from controller.algorithms.registry import make_suggester
from generator import SearchSpace, categorical, enas, nas_config, operation
from generator.katib.models import GraphConfig

OPERATIONS = (
    nas_config(
        operations=[
            operation("convolution", SearchSpace(filter_size=categorical(["3", "5"]))),
            operation(
                "reduction", SearchSpace(reduction_type=categorical(["max_pooling", "avg_pooling"]))
            ),
        ]
    ).operations
    or []
)
GRAPH = GraphConfig(num_layers=4, input_sizes=[8, 8, 1], output_sizes=[10])
FAST = {
    "controller_learning_rate": "0.05",
    "controller_train_steps": "10",
    "controller_baseline_decay": "0.5",
}


def suggester(
    settings: dict[str, str] | None = None,
    seed: int = 3,
    goal: str = "maximize",
    graph: GraphConfig = GRAPH,
) -> EnasSuggester:
    return EnasSuggester(graph, OPERATIONS, settings or {}, goal, seed)


def layers(assignments: Assignments) -> list[list[int]]:
    return json.loads(dict(assignments)["architecture"].replace("'", '"'))


def share_of_choice_zero(batch: list[Assignments]) -> float:
    picks = [layer[0] for a in batch for layer in layers(a)]
    return picks.count(0) / len(picks)


def test_architectures_fit_the_space_and_carry_katibs_two_assignments() -> None:
    batch = suggester().suggest(6)
    assert len(batch) == 6
    for assignments in batch:
        assert [name for name, _ in assignments] == ["architecture", "nn_config"]
        arc = layers(assignments)
        assert [len(layer) for layer in arc] == [1, 2, 3, 4]
        assert all(0 <= layer[0] < 4 and set(layer[1:]) <= {0, 1} for layer in arc)
        config = json.loads(dict(assignments)["nn_config"].replace("'", '"'))
        assert {int(key) for key in config["embedding"]} == {layer[0] for layer in arc}


def test_the_same_seed_gives_the_same_architectures_and_none_repeats() -> None:
    first, second = suggester(seed=11), suggester(seed=11)
    a = first.suggest(5) + first.suggest(5)
    b = second.suggest(5) + second.suggest(5)
    assert a == b
    assert len(set(a)) == 10


def test_the_policy_learns_which_choice_earns_the_reward() -> None:
    enas = suggester(FAST, seed=5)
    before = share_of_choice_zero(enas.suggest(40))
    for _ in range(12):
        for assignments in enas.suggest(8):
            enas.observe(assignments, share_of_choice_zero([assignments]))
    after = share_of_choice_zero(enas.suggest(40))
    assert before < 0.4 < 0.6 < after


def test_a_minimised_objective_is_learnt_negated() -> None:
    enas = suggester(FAST, seed=5, goal="minimize")
    for _ in range(12):
        for assignments in enas.suggest(8):
            enas.observe(assignments, share_of_choice_zero([assignments]))
    assert share_of_choice_zero(enas.suggest(40)) < 0.15


def test_a_rebuilt_controller_learns_from_the_finished_trials_and_repeats_none() -> None:
    original = suggester(FAST, seed=5)
    history = []
    for _ in range(6):
        for assignments in original.suggest(8):
            value = share_of_choice_zero([assignments])
            history.append((assignments, value))
    history.append((original.suggest(1)[0], None))  # failed: reserved, teaches nothing
    rebuilt = suggester(FAST, seed=9)
    untrained = share_of_choice_zero(suggester(FAST, seed=9).suggest(40))
    rebuilt.restore(history)
    fresh = rebuilt.suggest(40)
    assert not set(fresh) & {a for a, _ in history}
    assert share_of_choice_zero(fresh) > untrained + 0.1


def test_failed_trials_and_architectures_of_another_space_are_ignored() -> None:
    enas = suggester(seed=2)
    [assignments] = enas.suggest(1)
    enas.observe(assignments, None)
    enas.observe(assignments, float("nan"))
    enas.observe((("architecture", "[[9]]"),), 1.0)  # one layer, choice 9: not this space
    enas.restore([((("architecture", "not json at all"),), 0.5)])
    assert len(enas.suggest(3)) == 3


def test_a_small_space_is_used_up_and_then_ends_the_suggestions() -> None:
    graph = GraphConfig(num_layers=2, input_sizes=[8, 8, 1], output_sizes=[10])
    enas = suggester(seed=1, graph=graph)  # 4 choices per layer, one skip bit: 32
    seen = enas.suggest(20) + enas.suggest(20)
    assert len(seen) == len(set(seen)) == 32
    assert enas.exhausted and enas.suggest(1) == []


def test_settings_parse_none_to_leave_the_term_out() -> None:
    settings = EnasSettings.parse(
        {
            "controller_temperature": "None",
            "controller_tanh_const": "None",
            "controller_skip_weight": "None",
            "controller_hidden_size": "8",
        }
    )
    assert (
        settings.temperature is None
        and settings.tanh_const is None
        and settings.skip_weight is None
    )
    assert settings.hidden_size == 8 and settings.learning_rate == 5e-5
    policy = Policy(3, 4, settings, torch.Generator().manual_seed(0))
    rollout = policy(5)
    assert rollout.arcs.shape == (5, 1 + 2 + 3)
    assert torch.all(rollout.log_prob <= 0)


def test_scoring_forced_architectures_gives_the_log_probability_sampling_had() -> None:
    policy = Policy(4, 4, EnasSettings(hidden_size=16), torch.Generator().manual_seed(0))
    with torch.no_grad():
        sampled = policy(6, generator=torch.Generator().manual_seed(1))
        scored = policy(6, forced=sampled.arcs)
    assert torch.allclose(sampled.log_prob, scored.log_prob)
    assert torch.allclose(sampled.skip_penalty, scored.skip_penalty)


def test_the_registry_builds_enas_from_the_experiments_nas_config() -> None:
    nas = nas_config(num_layers=2, input_sizes=[8, 8, 1], output_sizes=[10], operations=OPERATIONS)
    built = make_suggester(enas(controller_hidden_size=16), [], "maximize", nas=nas)
    assert isinstance(built, EnasSuggester) and len(built.suggest(2)) == 2


@pytest.mark.parametrize("missing", ["graph", "layers"])
def test_enas_without_its_graph_is_a_clear_controller_error(missing: str) -> None:
    from controller.errors import ControllerError

    graph = None if missing == "graph" else {"input_sizes": [8, 8, 1], "output_sizes": [10]}
    nas = nas_config(operations=OPERATIONS, **(graph or {}))
    with pytest.raises(ControllerError, match="numLayers"):
        make_suggester(enas(), [], "maximize", nas=nas)
