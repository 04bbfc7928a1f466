"""The controller's registry of algorithms, by Katib's names: which suggester runs each,
which need no result to suggest, and the hooks an algorithm adds to its trials' starts
(pbt's checkpoint folders). The catalogue (`generator.katib.algorithms`) names the same
algorithms; a test holds the two equal."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import optuna

from controller.algorithms.base import Suggester, TrialSuggester, TrialWorkspace
from controller.algorithms.darts import DartsSuggester
from controller.algorithms.grid import GridSuggester
from controller.algorithms.hyperband import HyperbandSuggester
from controller.algorithms.optuna_backed import OPTUNA_ALGORITHMS, OptunaSuggester, seed
from controller.algorithms.pbt import CheckpointFolders, PbtSuggester
from controller.algorithms.random_search import UniformDraws
from controller.errors import ControllerError
from generator.katib.models import AlgorithmSpec, NasConfig, ParameterSpec
from generator.katib.nas import SpaceError

# The catalogue's algorithms this controller runs.
ALGORITHMS = frozenset({*OPTUNA_ALGORITHMS, "random", "grid", "hyperband", "pbt", "enas", "darts"})
# Algorithms whose suggestions do not depend on any trial's result.
RESULT_INDEPENDENT = frozenset({"random", "sobol", "grid"})


def make_suggester(
    spec: AlgorithmSpec,
    parameters: Sequence[ParameterSpec],
    goal: str,
    nas: NasConfig | None = None,
) -> Suggester | TrialSuggester:
    """The suggester of `spec`'s algorithm, over `parameters` or, for enas and darts, over
    the architectures of `nas`."""
    settings = {s.name: s.value for s in spec.algorithm_settings or []}
    if spec.algorithm_name in ("enas", "darts"):
        return _nas_suggester(spec, settings, goal, nas)
    if spec.algorithm_name == "pbt":
        return PbtSuggester(parameters, settings, goal, seed(settings))
    if spec.algorithm_name == "hyperband":
        return HyperbandSuggester(parameters, settings, goal, seed(settings))
    if spec.algorithm_name == "grid":
        if any(p.parameter_type == "double" and not p.feasible_space.step for p in parameters):
            raise ControllerError("grid needs a step on every double parameter")
        return GridSuggester(parameters, seed(settings))
    if spec.algorithm_name == "random":
        return UniformDraws(parameters, seed(settings))
    factory = OPTUNA_ALGORITHMS.get(spec.algorithm_name)
    if factory is None:
        raise ControllerError(
            f"the {spec.algorithm_name!r} algorithm is unknown to hpo-controller; "
            f"it runs: {', '.join(sorted(ALGORITHMS))}"
        )
    with warnings.catch_warnings():
        # GPSampler and QMCSampler are marked experimental in optuna; hpo-gen pins and
        # tests the behaviour it relies on.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = factory(settings, parameters)
    return OptunaSuggester(sampler, parameters, goal)


def _nas_suggester(
    spec: AlgorithmSpec, settings: dict[str, str], goal: str, nas: NasConfig | None
) -> Suggester:
    if nas is None:
        raise ControllerError(f"the {spec.algorithm_name!r} algorithm needs spec.nasConfig")
    if spec.algorithm_name == "darts":
        return DartsSuggester(nas, [(s.name, s.value) for s in spec.algorithm_settings or []])
    graph = nas.graph_config
    if graph is None or not graph.num_layers:
        raise ControllerError("enas needs spec.nasConfig.graphConfig.numLayers")
    try:
        import torch  # only where enas runs: the controller needs no torch otherwise
    except ImportError as err:
        raise ControllerError(
            "enas's controller is a torch policy and torch is not installed: "
            "pip install 'hpo-gen[controller,nas]'"
        ) from err
    from controller.algorithms.enas import EnasSuggester

    # The policy's matrices are small: one thread runs its steps several times faster than
    # a pool contending with the trials for the cores (the process uses torch for nothing
    # else).
    torch.set_num_threads(1)

    try:
        return EnasSuggester(graph, nas.operations or [], settings, goal, seed(settings))
    except SpaceError as err:
        raise ControllerError(f"enas: spec.nasConfig.operations: {err}") from err


def trial_workspace(
    spec: AlgorithmSpec, experiment: str, volume: Path | None, fresh: bool
) -> TrialWorkspace | None:
    """What the algorithm adds to each trial's start (None: nothing). pbt keeps each
    trial's checkpoint folder in `volume`, the experiment's persistent folder; `fresh`: a
    new run, whose folders start empty."""
    if spec.algorithm_name != "pbt":
        return None
    if volume is None:
        raise ControllerError(f"experiment {experiment!r}: pbt needs a volume folder")
    settings = {s.name: s.value for s in spec.algorithm_settings or []}
    return CheckpointFolders.prepare(volume, settings.get("suggestion_trial_dir", "/"), fresh)
