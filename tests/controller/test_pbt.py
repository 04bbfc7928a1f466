"""pbt: Katib's generations, truncation, exploit and explore, with its bugs fixed, and a
population rebuilt from trial records."""

from __future__ import annotations

import math

import pytest

from controller.algorithms.base import Suggestion
from controller.algorithms.pbt import GENERATION_LABEL, PARENT_LABEL, PbtSuggester
from controller.algorithms.registry import make_suggester
from controller.errors import ControllerError
from generator import SearchSpace, categorical, double, integer
from generator.katib.models import AlgorithmSetting, AlgorithmSpec

SPACE = SearchSpace(
    lr=double(0.001, 0.1, step=0.001),
    layers=integer(1, 6),
    optimizer=categorical(["sgd", "adam", "rmsprop"]),
).parameters()
SETTINGS = {
    "suggestion_trial_dir": "/var/log/katib/checkpoints/",
    "n_population": "6",
    "truncation_threshold": "0.25",
}
GRID = {
    "lr": [round(0.001 * i, 12) for i in range(1, 101)],
    "layers": list(range(1, 7)),
}


def score(suggestion: Suggestion) -> float:
    values = dict(suggestion.assignments)
    return -abs(float(values["lr"]) - 0.05) - 0.01 * int(values["layers"])


def generation(suggestion: Suggestion) -> int:
    return int(suggestion.label(GENERATION_LABEL) or -1)


def drive(
    suggester: PbtSuggester, trials: int, batch: int = 3
) -> list[tuple[str, Suggestion, float]]:
    """Run trials in batches, every one succeeding with `score`; name them in order."""
    done: list[tuple[str, Suggestion, float]] = []
    while len(done) < trials:
        for suggestion in suggester.suggest_trials(batch):
            name = f"t{len(done) + 1:03d}"
            value = score(suggestion)
            suggester.trial_finished(name, suggestion, value)
            done.append((name, suggestion, value))
    return done


def perturbed(value: float, grid: list[float] | list[int]) -> set[float]:
    """The grid points x0.8 and x1.2 lands nearest to, or one step down or up when it
    would not move."""
    out = set()
    index = grid.index(value)  # type: ignore[arg-type]
    for factor, step in ((0.8, -1), (1.2, 1)):
        nearest = min(range(len(grid)), key=lambda i: abs(grid[i] - value * factor))
        if nearest == index:
            nearest = min(max(index + step, 0), len(grid) - 1)
        out.add(float(grid[nearest]))
    return out


def in_space(suggestion: Suggestion) -> bool:
    values = dict(suggestion.assignments)
    lr = float(values["lr"])
    on_grid = any(math.isclose(lr, g, abs_tol=1e-12) for g in GRID["lr"])
    return (
        on_grid
        and int(values["layers"]) in GRID["layers"]
        and values["optimizer"] in ("sgd", "adam", "rmsprop")
    )


def test_the_first_generation_is_drawn_from_the_grids() -> None:
    suggester = PbtSuggester(SPACE, SETTINGS, "maximize", seed=1)
    first = suggester.suggest_trials(6)
    assert [generation(s) for s in first] == [0] * 6
    assert all(s.label(PARENT_LABEL) is None and in_space(s) for s in first)
    assert all([name for name, _ in s.assignments] == ["lr", "layers", "optimizer"] for s in first)


def test_later_generations_exploit_the_top_and_explore_the_rest() -> None:
    suggester = PbtSuggester(SPACE, SETTINGS, "maximize", seed=2)
    done = drive(suggester, 60)
    by_name = {name: (suggestion, value) for name, suggestion, value in done}
    bred = [s for _, s, _ in done if generation(s) > 0]
    assert bred and max(generation(s) for s in bred) >= 3
    exploited = explored = 0
    for suggestion in bred:
        assert in_space(suggestion)
        parent = suggestion.label(PARENT_LABEL)
        assert parent in by_name, "a parent is a finished trial"
        parent_suggestion, _ = by_name[parent]
        assert generation(suggestion) == generation(parent_suggestion) + 1
        if suggestion.assignments == parent_suggestion.assignments:
            exploited += 1  # a copy of a top trial, continuing its checkpoint
            continue
        explored += 1
        mine, theirs = dict(suggestion.assignments), dict(parent_suggestion.assignments)
        assert float(mine["lr"]) in perturbed(float(theirs["lr"]), GRID["lr"])
        assert int(mine["layers"]) in perturbed(int(theirs["layers"]), GRID["layers"])
        options = ["sgd", "adam", "rmsprop"]
        step = (options.index(mine["optimizer"]) - options.index(theirs["optimizer"])) % 3
        assert step in (1, 2), "a category moves one place along its list"
    assert exploited and explored
    assert len(set(bred)) == len(bred), "no child is bred twice from the same parent"


def test_exploiting_trials_copy_a_top_trial_of_the_pool() -> None:
    suggester = PbtSuggester(SPACE, SETTINGS | {"truncation_threshold": "0.5"}, "maximize", seed=3)
    done = drive(suggester, 7, batch=1)  # generation 0 (6) and one more: the pool exceeds 6
    pool = done[:7]
    values = sorted(v for _, _, v in pool)
    upper_half = {name for name, _, v in pool if v >= values[len(values) // 2]}
    nxt = suggester.suggest_trials(6)
    by_name = {name: s for name, s, _ in pool}
    exploiting = [
        s for s in nxt if s.assignments == by_name[s.label(PARENT_LABEL) or ""].assignments
    ]
    # int(6 * 0.5) exploit; a copy bred already is varied instead of repeated
    assert 1 <= len(exploiting) <= 3
    assert {s.label(PARENT_LABEL) for s in exploiting} <= upper_half
    assert len(set(nxt)) == len(nxt)


def test_minimizing_ranks_low_values_on_top() -> None:
    suggester = PbtSuggester(SPACE, SETTINGS | {"truncation_threshold": "0.5"}, "minimize", seed=3)
    pool = drive(suggester, 7, batch=1)
    values = sorted(v for _, _, v in pool)
    lower_half = {name for name, _, v in pool if v <= values[len(values) // 2]}
    nxt = suggester.suggest_trials(6)
    by_name = {name: s for name, s, _ in pool}
    exploiting = [
        s for s in nxt if s.assignments == by_name[s.label(PARENT_LABEL) or ""].assignments
    ]
    assert exploiting and {s.label(PARENT_LABEL) for s in exploiting} <= lower_half


def test_a_failed_trial_runs_again_from_the_same_parent() -> None:
    suggester = PbtSuggester(SPACE, SETTINGS, "maximize", seed=4)
    drive(suggester, 9)
    [child] = suggester.suggest_trials(1)
    suggester.trial_finished("crashed", child, None)
    suggester.trial_finished("no-metric", suggester.suggest_trials(1)[0], math.nan)
    again = suggester.suggest_trials(20)
    assert child in again


def test_resample_probability_redraws_values() -> None:
    always = PbtSuggester(SPACE, SETTINGS | {"resample_probability": "1"}, "maximize", seed=5)
    never = PbtSuggester(SPACE, SETTINGS | {"resample_probability": "0"}, "maximize", seed=5)
    for suggester, changes in ((always, True), (never, False)):
        done = drive(suggester, 40)
        by_name = {name: s for name, s, _ in done}
        bred = [s for _, s, _ in done if generation(s) > 0]
        assert bred and all(in_space(s) for s in bred)
        differ = [s.assignments != by_name[s.label(PARENT_LABEL) or ""].assignments for s in bred]
        assert any(differ) is changes


def test_the_same_seed_gives_the_same_population() -> None:
    def names(seed: int) -> list[Suggestion]:
        return [s for _, s, _ in drive(PbtSuggester(SPACE, SETTINGS, "maximize", seed=seed), 30)]

    assert names(6) == names(6)
    assert names(6) != names(7)


@pytest.mark.parametrize("cut", [4, 7, 13, 25])
def test_a_rebuilt_population_continues(cut: int) -> None:
    first = PbtSuggester(SPACE, SETTINGS, "maximize", seed=8)
    done = drive(first, cut, batch=1)
    failed_name, failed, _ = done[-1]
    history: list[tuple[str, Suggestion, float | None]] = [
        *[(n, s, v) for n, s, v in done[:-1]],
        (failed_name, failed, None),
    ]
    running = first.suggest_trials(2)
    rebuilt = PbtSuggester(SPACE, SETTINGS, "maximize", seed=8)
    for index, suggestion in enumerate(running):
        rebuilt.trial_rerun(f"r{index}", suggestion)
    rebuilt.rebuild(history)
    more = rebuilt.suggest_trials(12)
    assert len(more) == 12
    assert failed in more, "the failed trial is queued again"
    known = {n for n, _, _ in done[:-1]}
    for suggestion in more:
        assert in_space(suggestion)
        parent = suggestion.label(PARENT_LABEL)
        assert parent is None or parent in known
    if cut < 6:  # the rest of generation 0 comes first
        given = [s for _, s, _ in done[:-1]] + running
        assert all(generation(s) == 0 for s in more[: 6 - len(given)])


def test_settings_are_required_and_checked() -> None:
    with pytest.raises(ControllerError, match="n_population"):
        PbtSuggester(SPACE, {"suggestion_trial_dir": "/c"}, "maximize", None)
    with pytest.raises(ControllerError, match="n_population >= 5"):
        PbtSuggester(SPACE, SETTINGS | {"n_population": "4"}, "maximize", None)
    stepless = SearchSpace(lr=double(0.01, 0.1)).parameters()
    with pytest.raises(ControllerError, match="needs a step for 'lr'"):
        PbtSuggester(stepless, SETTINGS, "maximize", None)


def test_make_suggester_runs_pbt_by_katib_name() -> None:
    settings = [AlgorithmSetting(name=k, value=v) for k, v in SETTINGS.items()]
    suggester = make_suggester(
        AlgorithmSpec(algorithm_name="pbt", algorithm_settings=settings), SPACE, "maximize"
    )
    assert isinstance(suggester, PbtSuggester) and not suggester.exhausted
