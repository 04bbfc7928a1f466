"""One home for the algorithm catalogue: every algorithm Katib knows has a typed builder
in the spec language, imports back through it, and is either run by hpo-controller or
marked in the catalogue as validated but not run; the controller's registry is the
catalogue's `runs` set."""

from __future__ import annotations

import pytest

import generator
from controller.algorithms.registry import ALGORITHMS as RUN_BY_CONTROLLER
from controller.algorithms.registry import make_suggester
from controller.errors import ControllerError
from generator import SearchSpace, double, integer
from generator.katib.algorithms import ALGORITHMS, EARLY_STOPPING, AlgorithmInfo
from generator.katib.models import AlgorithmSpec, EarlyStoppingSpec

# The settings each builder requires, to build one.
REQUIRED = {
    "hyperband": {"r_l": 9, "resource_name": "epochs"},
    "pbt": {"suggestion_trial_dir": "/c", "n_population": 5, "truncation_threshold": 0.2},
}
SPACE = SearchSpace(lr=double(0.0, 1.0, step=0.25), epochs=integer(1, 9))


@pytest.mark.parametrize(
    "info", [*ALGORITHMS.values(), *EARLY_STOPPING.values()], ids=lambda info: info.name
)
def test_every_algorithm_has_a_typed_builder_of_its_name(info: AlgorithmInfo) -> None:
    assert info.builder in generator.__all__
    built = getattr(generator, info.builder)(**REQUIRED.get(info.name, {}))
    assert isinstance(built, AlgorithmSpec | EarlyStoppingSpec)
    assert built.algorithm_name == info.name


def test_the_controller_runs_exactly_what_the_catalogue_says_it_runs() -> None:
    assert {name for name, info in ALGORITHMS.items() if info.runs} == RUN_BY_CONTROLLER


@pytest.mark.parametrize("info", list(ALGORITHMS.values()), ids=lambda info: info.name)
def test_each_algorithm_is_run_or_refused_as_not_run(info: AlgorithmInfo) -> None:
    spec = getattr(generator, info.builder)(**REQUIRED.get(info.name, {}))
    parameters = SPACE.parameters()
    if info.runs:
        assert make_suggester(spec, parameters, "maximize") is not None
    else:
        with pytest.raises(ControllerError, match="validated and rendered but not run"):
            make_suggester(spec, parameters, "maximize")
