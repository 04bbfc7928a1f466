"""One home for the algorithm catalogue: every algorithm Katib knows has a typed builder
in the spec language, imports back through it, and is run by hpo-controller: the
controller's registry names exactly the catalogue's algorithms."""

from __future__ import annotations

import pytest

import generator
from controller.algorithms.base import as_trial_suggester
from controller.algorithms.registry import ALGORITHMS as RUN_BY_CONTROLLER
from controller.algorithms.registry import make_suggester
from controller.errors import ControllerError
from generator import SearchSpace, categorical, double, integer
from generator.katib.algorithms import ALGORITHMS, EARLY_STOPPING, AlgorithmInfo
from generator.katib.models import AlgorithmSpec, EarlyStoppingSpec

# The settings each builder requires, to build one.
REQUIRED = {
    "hyperband": {"r_l": 9, "resource_name": "epochs"},
    "pbt": {"suggestion_trial_dir": "/c", "n_population": 5, "truncation_threshold": 0.2},
}
SPACE = SearchSpace(lr=double(0.0, 1.0, step=0.25), epochs=integer(1, 9))
NAS = generator.nas_config(
    num_layers=3,
    input_sizes=[8, 8, 1],
    output_sizes=[10],
    operations=[
        generator.operation("convolution", SearchSpace(filter_size=categorical(["3", "5"])))
    ],
)


@pytest.mark.parametrize(
    "info", [*ALGORITHMS.values(), *EARLY_STOPPING.values()], ids=lambda info: info.name
)
def test_every_algorithm_has_a_typed_builder_of_its_name(info: AlgorithmInfo) -> None:
    assert info.builder in generator.__all__
    built = getattr(generator, info.builder)(**REQUIRED.get(info.name, {}))
    assert isinstance(built, AlgorithmSpec | EarlyStoppingSpec)
    assert built.algorithm_name == info.name


def test_the_controller_runs_exactly_the_catalogues_algorithms() -> None:
    assert set(ALGORITHMS) == RUN_BY_CONTROLLER


@pytest.mark.parametrize("info", list(ALGORITHMS.values()), ids=lambda info: info.name)
def test_each_algorithm_makes_a_suggester_that_suggests(info: AlgorithmInfo) -> None:
    spec = getattr(generator, info.builder)(**REQUIRED.get(info.name, {}))
    if info.is_nas:
        suggester = make_suggester(spec, [], "maximize", nas=NAS)
    else:
        suggester = make_suggester(spec, SPACE.parameters(), "maximize")
    assert as_trial_suggester(suggester).suggest_trials(2)


def test_an_unknown_algorithm_is_refused_with_the_ones_that_run() -> None:
    with pytest.raises(ControllerError, match=r"'annealing' algorithm is unknown.*runs: bayes"):
        make_suggester(AlgorithmSpec(algorithm_name="annealing"), SPACE.parameters(), "maximize")
