"""The catalogue of suggestion algorithms, by Katib's names: the names Katib's default
`katib-config` maps to a suggestion service, which are the names hpo-gen accepts."""

from __future__ import annotations

from typing import Final

HYPERPARAMETER_ALGORITHMS: Final = (
    "bayesianoptimization",
    "cmaes",
    "grid",
    "hyperband",
    "multivariate-tpe",
    "pbt",
    "random",
    "sobol",
    "tpe",
)
NAS_ALGORITHMS: Final = ("darts", "enas")
ALGORITHM_NAMES: Final = frozenset(HYPERPARAMETER_ALGORITHMS + NAS_ALGORITHMS)
EARLY_STOPPING_ALGORITHMS: Final = frozenset({"medianstop"})
