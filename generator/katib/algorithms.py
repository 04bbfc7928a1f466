"""The catalogue of Katib's algorithms: their names and the settings each accepts, with
the rule each setting obeys, as enforced by the suggestion service that Katib's default
`katib-config` maps the name to (NOTES: hyperopt for random/tpe, optuna for grid and
multivariate-tpe, goptuna for cmaes/sobol, skopt for bayesianoptimization, Katib's own
hyperband, pbt, enas, darts and medianstop). Where Katib's check is broken (pbt's
resample_probability, goptuna's ignored names and negative seeds) the intended rule holds.
Pure data and pure checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# A setting's check: None when the text is acceptable, else what is wrong with it.
Check = Callable[[str], str | None]


def _number(text: str, kind: type) -> float | None:
    try:
        value = float(int(text)) if kind is int else float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def integer(low: int, *, high: int | None = None, allow: tuple[str, ...] = ()) -> Check:
    def check(text: str) -> str | None:
        if text in allow:
            return None
        value = _number(text, int)
        if value is None or value < low or (high is not None and value > high):
            bound = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
            return f"must be {bound}"
        return None

    return check


def real(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow: tuple[str, ...] = (),
) -> Check:
    def check(text: str) -> str | None:
        if text in allow:
            return None
        value = _number(text, float)
        too_low = (
            low is not None and value is not None and (value <= low if low_open else value < low)
        )
        too_high = (
            high is not None
            and value is not None
            and (value >= high if high_open else value > high)
        )
        if value is None or too_low or too_high:
            parts = []
            if low is not None:
                parts.append(f"{'>' if low_open else '>='} {low:g}")
            if high is not None:
                parts.append(f"{'<' if high_open else '<='} {high:g}")
            return "must be a number " + " and ".join(parts) if parts else "must be a number"
        return None

    return check


def one_of(*choices: str) -> Check:
    def check(text: str) -> str | None:
        return None if text in choices else "must be one of " + ", ".join(map(repr, choices))

    return check


def text() -> Check:
    def check(value: str) -> str | None:
        return None if value else "must not be empty"

    return check


@dataclass(frozen=True)
class Setting:
    name: str
    check: Check
    default: str | None = None
    required: bool = False


@dataclass(frozen=True)
class AlgorithmInfo:
    name: str
    service: str
    settings: tuple[Setting, ...]
    accepts_unknown: bool = False  # darts passes unknown settings through to the trials
    is_nas: bool = False
    builder: str = ""  # the spec language's typed builder (in `generator`)

    def setting(self, name: str) -> Setting | None:
        return next((s for s in self.settings if s.name == name), None)


_SEED = Setting("random_state", integer(0))

ALGORITHMS: Final[dict[str, AlgorithmInfo]] = {
    info.name: info
    for info in (
        AlgorithmInfo("random", "hyperopt", (_SEED,), builder="random_search"),
        AlgorithmInfo(
            "tpe",
            "hyperopt",
            (
                Setting("gamma", real(0, 1, low_open=True, high_open=True), "0.25"),
                Setting("prior_weight", real(0, low_open=True), "1.0"),
                Setting("n_EI_candidates", integer(1), "24"),
                _SEED,
            ),
            builder="tpe",
        ),
        AlgorithmInfo("grid", "optuna", (_SEED,), builder="grid"),
        AlgorithmInfo(
            "multivariate-tpe",
            "optuna",
            (
                Setting("n_startup_trials", integer(0), "10"),
                Setting("n_ei_candidates", integer(0), "24"),
                _SEED,
            ),
            builder="multivariate_tpe",
        ),
        AlgorithmInfo(
            "cmaes",
            "goptuna",
            (
                Setting("restart_strategy", one_of("none", "None", "ipop", "bipop"), "none"),
                Setting("sigma", real(0)),
                _SEED,
            ),
            builder="cmaes",
        ),
        AlgorithmInfo("sobol", "goptuna", (), builder="sobol"),
        AlgorithmInfo(
            "bayesianoptimization",
            "skopt",
            (
                Setting("base_estimator", one_of("GP", "RF", "ET", "GBRT"), "GP"),
                Setting("n_initial_points", integer(0), "10"),
                Setting(
                    "acq_func", one_of("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"), "gp_hedge"
                ),
                Setting("acq_optimizer", one_of("auto", "sampling", "lbfgs"), "auto"),
                _SEED,
            ),
            builder="bayesian_optimization",
        ),
        AlgorithmInfo(
            "hyperband",
            "hyperband",
            (
                # r_l of 1 or less makes Katib's s_max a log of 1 or of a fraction.
                Setting("r_l", real(1, low_open=True), required=True),
                Setting("resource_name", text(), required=True),
                Setting("eta", integer(2), "3"),
                _SEED,  # Katib's service ignores names it does not know
            ),
            builder="hyperband",
        ),
        AlgorithmInfo(
            "pbt",
            "pbt",
            (
                Setting("suggestion_trial_dir", text(), required=True),
                Setting("n_population", integer(5), required=True),
                Setting("truncation_threshold", real(0, 1), required=True),
                Setting("resample_probability", real(0, 1)),
                _SEED,  # Katib's service ignores names it does not know
            ),
            builder="pbt",
        ),
        AlgorithmInfo(
            "enas",
            "enas",
            (
                Setting("controller_hidden_size", integer(1), "64"),
                Setting("controller_temperature", real(0, low_open=True, allow=("None",)), "5.0"),
                Setting("controller_tanh_const", real(0, low_open=True, allow=("None",)), "2.25"),
                Setting(
                    "controller_entropy_weight", real(0, low_open=True, allow=("None",)), "1e-05"
                ),
                Setting("controller_baseline_decay", real(0, 1, low_open=True), "0.999"),
                Setting("controller_learning_rate", real(0, 1, low_open=True), "5e-05"),
                Setting("controller_skip_target", real(0, 1, low_open=True), "0.4"),
                Setting("controller_skip_weight", real(0, low_open=True, allow=("None",)), "0.8"),
                Setting("controller_train_steps", integer(1), "50"),
                Setting("controller_log_every_steps", integer(1), "10"),
            ),
            is_nas=True,
            builder="enas",
        ),
        AlgorithmInfo(
            "darts",
            "darts",
            (
                Setting("num_epochs", integer(1), "50"),
                Setting("w_lr", real(0), "0.025"),
                Setting("w_lr_min", real(0), "0.001"),
                Setting("w_momentum", real(0), "0.9"),
                Setting("w_weight_decay", real(0), "0.0003"),
                Setting("w_grad_clip", real(0), "5.0"),
                Setting("alpha_lr", real(0), "0.0003"),
                Setting("alpha_weight_decay", real(0), "0.001"),
                Setting("batch_size", integer(1, allow=("None",)), "128"),
                Setting("num_workers", integer(0), "4"),
                Setting("init_channels", integer(1), "16"),
                Setting("print_step", integer(1), "50"),
                Setting("num_nodes", integer(1), "4"),
                Setting("stem_multiplier", integer(1), "3"),
            ),
            accepts_unknown=True,
            is_nas=True,
            builder="darts",
        ),
    )
}

EARLY_STOPPING: Final[dict[str, AlgorithmInfo]] = {
    "medianstop": AlgorithmInfo(
        "medianstop",
        "medianstop",
        (
            Setting("min_trials_required", integer(1), "3"),
            Setting("start_step", integer(1), "4"),
        ),
        builder="median_stop",
    )
}

ALGORITHM_NAMES: Final = frozenset(ALGORITHMS)
EARLY_STOPPING_ALGORITHMS: Final = frozenset(EARLY_STOPPING)
