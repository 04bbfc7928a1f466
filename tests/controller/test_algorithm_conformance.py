"""One conformance suite over every algorithm hpo-controller runs: suggestions stay in the
space, the same seed gives the same sequence, the requested count is honoured, suggestions
are distinct (also in batches), a used-up space ends the suggestions, and a rebuilt
suggester continues without repeating the trials it was given."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from controller.algorithms.base import Assignments
from controller.algorithms.grid import grid_values
from controller.algorithms.registry import ALGORITHMS, make_suggester
from generator import SearchSpace, categorical, discrete, double, integer
from generator.katib.models import AlgorithmSetting, AlgorithmSpec, ParameterSpec

MIXED = SearchSpace(
    lr=double(0.001, 0.1, distribution="logUniform"),
    momentum=double(0.5, 0.9, step=0.1),
    layers=integer(1, 4),
    width=discrete([32, 64, 128]),
    optimizer=categorical(["sgd", "adam", "rmsprop"]),
).parameters()
NUMERIC = SearchSpace(x=double(-1.0, 1.0, step=0.05), y=integer(-5, 5)).parameters()
SPACES = {"grid": NUMERIC, "cmaes": NUMERIC}
# hyperband needs a resource parameter and waits for each rung: test_hyperband.py.
# pbt's suggestions are trials that continue a parent's checkpoint, and repeat
# assignments by design: test_pbt.py.
# enas and darts search architectures, not parameters: test_enas.py, test_nas_run.py.
SUGGESTING = sorted(ALGORITHMS - {"hyperband", "pbt", "enas", "darts"})


def algorithm(name: str, seed: int = 7) -> AlgorithmSpec:
    settings = [AlgorithmSetting(name="random_state", value=str(seed))]
    return AlgorithmSpec(algorithm_name=name, algorithm_settings=settings)


def objective(assignments: Assignments) -> float:
    values = dict(assignments)
    score = 0.0
    for text in values.values():
        try:
            score -= (float(text) - 0.3) ** 2
        except ValueError:
            score += 0.1 if text == "adam" else 0.0
    return score


def run(name: str, trials: int, batch: int = 1, seed: int = 7) -> list[Assignments]:
    parameters = SPACES.get(name, MIXED)
    suggester = make_suggester(algorithm(name, seed), parameters, "maximize")
    seen: list[Assignments] = []
    while len(seen) < trials:
        batch_of = suggester.suggest(min(batch, trials - len(seen)))
        assert batch_of, "the suggester stopped early"
        for assignments in batch_of:
            suggester.observe(assignments, objective(assignments))
        seen += batch_of
    return seen


def assert_in_space(assignments: Assignments, parameters: list[ParameterSpec]) -> None:
    by_name = {p.name: p for p in parameters}
    assert [name for name, _ in assignments] == [p.name for p in parameters]
    for name, text in assignments:
        parameter = by_name[name]
        space = parameter.feasible_space
        if parameter.parameter_type in ("categorical", "discrete"):
            assert text in (space.list_ or []), (name, text)
            continue
        value = float(text)
        assert float(space.min or 0) <= value <= float(space.max or 0), (name, text)
        if parameter.parameter_type == "int":
            assert text == str(int(value))
        if space.step:
            steps = (value - float(space.min or 0)) / float(space.step)
            assert math.isclose(steps, round(steps), abs_tol=1e-6), (name, text)


@pytest.mark.parametrize("name", SUGGESTING)
def test_suggestions_stay_inside_the_space(name: str) -> None:
    parameters = SPACES.get(name, MIXED)
    for assignments in run(name, 14, batch=3):
        assert_in_space(assignments, parameters)


@pytest.mark.parametrize("name", SUGGESTING)
def test_the_same_seed_gives_the_same_sequence(name: str) -> None:
    assert run(name, 12, seed=3) == run(name, 12, seed=3)


@pytest.mark.parametrize("name", SUGGESTING)
def test_suggestions_are_distinct_in_batches(name: str) -> None:
    suggested = run(name, 15, batch=3)
    assert len(set(suggested)) == len(suggested) == 15


@pytest.mark.parametrize("name", SUGGESTING)
def test_the_requested_count_is_honoured(name: str) -> None:
    suggester = make_suggester(algorithm(name), SPACES.get(name, MIXED), "minimize")
    assert [len(suggester.suggest(count)) for count in (1, 3, 5)] == [1, 3, 5]


@pytest.mark.parametrize("name", SUGGESTING)
def test_a_rebuilt_suggester_continues_without_repeats(name: str) -> None:
    before = run(name, 10)
    history = [(a, objective(a) if index % 4 else None) for index, a in enumerate(before)]
    rebuilt = make_suggester(algorithm(name), SPACES.get(name, MIXED), "maximize")
    rebuilt.restore(history)
    more = rebuilt.suggest(5)
    assert len(more) == 5
    assert not set(more) & set(before)


@pytest.mark.parametrize("name", ["random", "grid", "tpe", "sobol"])
def test_a_used_up_space_ends_the_suggestions(name: str) -> None:
    tiny = SearchSpace(a=categorical(["x", "y"]), b=integer(1, 3)).parameters()
    suggester = make_suggester(algorithm(name), tiny, "maximize")
    first = suggester.suggest(4)
    rest = suggester.suggest(4)
    assert len(first) == 4 and len(rest) == 2
    assert len(set(first + rest)) == 6
    assert suggester.suggest(1) == []


def test_grid_values_follow_katib() -> None:
    [x, y] = NUMERIC
    assert grid_values(y) == list(range(-5, 6))
    assert len(grid_values(x)) == 41 and grid_values(x)[-1] == 1.0
    suggester = make_suggester(algorithm("grid"), NUMERIC, "maximize")
    every = suggester.suggest(41 * 11 + 5)
    assert len(every) == 41 * 11


@pytest.mark.parametrize("name", ["random", "sobol"])
def test_a_rebuilt_seeded_suggester_continues_its_sequence(name: str) -> None:
    whole = run(name, 90)
    rebuilt = make_suggester(algorithm(name), MIXED, "maximize")
    rebuilt.restore([(a, objective(a)) for a in whole[:80]])
    assert rebuilt.suggest(10) == whole[80:]


def test_random_draws_each_parameter_uniformly() -> None:
    """random's draws, 6000 of them over a mixed space: every grid point, integer and
    choice about equally often (each within 15% of its share), a log-uniform double below
    the geometric middle of its range about half the time, a plain double as often in
    each fifth of its range."""
    space = SearchSpace(
        lr=double(0.001, 0.1, distribution="logUniform"),
        x=double(0.0, 1.0),
        momentum=double(0.5, 0.9, step=0.1),
        layers=integer(1, 4),
        units=integer(1, 64, distribution="logUniform"),
        optimizer=categorical(["sgd", "adam", "rmsprop"]),
    ).parameters()
    suggester = make_suggester(algorithm("random", 11), space, "maximize")
    draws = [dict(a) for a in suggester.suggest(6000)]
    assert len(draws) == 6000

    def assert_even(counts: Counter[str], expected: list[str]) -> None:
        assert sorted(counts) == sorted(expected)
        share = len(draws) / len(expected)
        assert all(abs(n - share) < 0.15 * share for n in counts.values()), counts

    assert_even(Counter(d["momentum"] for d in draws), ["0.5", "0.6", "0.7", "0.8", "0.9"])
    assert_even(Counter(d["layers"] for d in draws), ["1", "2", "3", "4"])
    assert_even(Counter(d["optimizer"] for d in draws), ["sgd", "adam", "rmsprop"])
    assert_even(Counter(str(int(float(d["x"]) * 5)) for d in draws), list("01234"))
    assert_even(Counter(str(float(d["lr"]) < 0.01) for d in draws), ["True", "False"])
    units = [int(d["units"]) for d in draws]
    assert min(units) == 1 and max(units) == 64
    # log-uniform over [0.5, 64.5], rounded: 8 or less (below 8.5) 58% of the time
    share = sum(u <= 8 for u in units) / len(units)
    assert abs(share - math.log(8.5 / 0.5) / math.log(64.5 / 0.5)) < 0.03


def test_random_seeds_give_different_sequences() -> None:
    assert run("random", 5, seed=1) != run("random", 5, seed=2)
