"""Typed builders of Katib's algorithms and early stopping: one function per algorithm,
taking exactly the settings its Katib suggestion service accepts (see
`generator.katib.algorithms` for their rules). Settings left out keep the service's default."""

from __future__ import annotations

from typing import Literal

from generator.files.origin import caller_origin
from generator.katib.models import AlgorithmSpec, EarlyStoppingSetting, EarlyStoppingSpec
from generator.language.builders import algorithm
from generator.language.space import wire_value

Setting = int | float | str


def _settings(**values: Setting | None) -> dict[str, Setting]:
    return {name: value for name, value in values.items() if value is not None}


def random_search(*, random_state: int | None = None) -> AlgorithmSpec:
    return algorithm("random", **_settings(random_state=random_state)).located(caller_origin())


def grid(*, random_state: int | None = None) -> AlgorithmSpec:
    """Every combination; double parameters need a step."""
    return algorithm("grid", **_settings(random_state=random_state)).located(caller_origin())


def tpe(
    *,
    gamma: float | None = None,
    prior_weight: float | None = None,
    n_ei_candidates: int | None = None,
    random_state: int | None = None,
) -> AlgorithmSpec:
    """Tree-structured Parzen estimators (Katib's hyperopt service)."""
    settings = _settings(
        gamma=gamma,
        prior_weight=prior_weight,
        n_EI_candidates=n_ei_candidates,
        random_state=random_state,
    )
    return algorithm("tpe", **settings).located(caller_origin())


def multivariate_tpe(
    *,
    n_startup_trials: int | None = None,
    n_ei_candidates: int | None = None,
    random_state: int | None = None,
) -> AlgorithmSpec:
    settings = _settings(
        n_startup_trials=n_startup_trials,
        n_ei_candidates=n_ei_candidates,
        random_state=random_state,
    )
    return algorithm("multivariate-tpe", **settings).located(caller_origin())


def cmaes(
    *,
    restart_strategy: Literal["none", "ipop", "bipop"] | None = None,
    sigma: float | None = None,
    random_state: int | None = None,
) -> AlgorithmSpec:
    """CMA-ES; needs at least two int or double parameters."""
    settings = _settings(restart_strategy=restart_strategy, sigma=sigma, random_state=random_state)
    return algorithm("cmaes", **settings).located(caller_origin())


def sobol() -> AlgorithmSpec:
    return algorithm("sobol").located(caller_origin())


def bayesian_optimization(
    *,
    base_estimator: Literal["GP", "RF", "ET", "GBRT"] | None = None,
    n_initial_points: int | None = None,
    acq_func: Literal["gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"] | None = None,
    acq_optimizer: Literal["auto", "sampling", "lbfgs"] | None = None,
    random_state: int | None = None,
) -> AlgorithmSpec:
    settings = _settings(
        base_estimator=base_estimator,
        n_initial_points=n_initial_points,
        acq_func=acq_func,
        acq_optimizer=acq_optimizer,
        random_state=random_state,
    )
    return algorithm("bayesianoptimization", **settings).located(caller_origin())


def hyperband(
    *, resource_name: str, r_l: float, eta: int | None = None, random_state: int | None = None
) -> AlgorithmSpec:
    """Hyperband over the budget parameter `resource_name` (e.g. epochs), up to r_l.
    `random_state` seeds hpo-controller's draws of configurations (Katib's service
    ignores it)."""
    settings = _settings(r_l=r_l, resource_name=resource_name, eta=eta, random_state=random_state)
    return algorithm("hyperband", **settings).located(caller_origin())


def pbt(
    *,
    suggestion_trial_dir: str,
    n_population: int,
    truncation_threshold: float,
    resample_probability: float | None = None,
    random_state: int | None = None,
) -> AlgorithmSpec:
    """Population-based training; needs resume_policy='FromVolume'. Each trial's
    checkpoint folder is mounted at `suggestion_trial_dir`. `random_state` seeds
    hpo-controller's draws (Katib's service ignores it)."""
    settings = _settings(
        suggestion_trial_dir=suggestion_trial_dir,
        n_population=n_population,
        truncation_threshold=truncation_threshold,
        resample_probability=resample_probability,
        random_state=random_state,
    )
    return algorithm("pbt", **settings).located(caller_origin())


def early_stopping(name: str, **settings: Setting) -> EarlyStoppingSpec:
    """An early-stopping algorithm by Katib's name."""
    spec = EarlyStoppingSpec(
        algorithm_name=name,
        algorithm_settings=[
            EarlyStoppingSetting(name=key, value=wire_value(value))
            for key, value in settings.items()
        ]
        or None,
    )
    return spec.located(caller_origin())


def median_stop(
    *, min_trials_required: int | None = None, start_step: int | None = None
) -> EarlyStoppingSpec:
    """Stop a trial whose best value so far, from `start_step` reports on, is worse than the
    mean of the finished trials' early averages (Katib calls it a median)."""
    settings = _settings(min_trials_required=min_trials_required, start_step=start_step)
    return early_stopping("medianstop", **settings).located(caller_origin())


def enas(**settings: Setting) -> AlgorithmSpec:
    """ENAS architecture search; settings as in Katib (controller_hidden_size, ...)."""
    return algorithm("enas", **settings).located(caller_origin())


def darts(**settings: Setting) -> AlgorithmSpec:
    """DARTS architecture search; settings as in Katib (num_epochs, w_lr, ...)."""
    return algorithm("darts", **settings).located(caller_origin())
