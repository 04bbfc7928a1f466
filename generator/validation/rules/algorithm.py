"""Rules of the suggestion and early-stopping services, checked offline: each setting's
name and value (Katib's ValidateAlgorithmSettings / ValidateEarlyStoppingSettings), and
what each algorithm needs of the search space and the budget."""

from __future__ import annotations

import math
from collections.abc import Sequence

from generator.katib.algorithms import ALGORITHMS, EARLY_STOPPING, AlgorithmInfo
from generator.katib.identity import PBT_MAX_NAME_LENGTH
from generator.katib.models import (
    AlgorithmSetting,
    EarlyStoppingSetting,
    ExperimentSpec,
    ParameterSpec,
)
from generator.problems import FieldPath, Problem, did_you_mean

_NUMERIC = ("int", "double")


def settings_of(spec: ExperimentSpec) -> dict[str, str]:
    return (
        {s.name: s.value for s in (spec.algorithm.algorithm_settings or [])}
        if (spec.algorithm)
        else {}
    )


def fixed_parameters(spec: ExperimentSpec) -> frozenset[str]:
    """Parameters whose range may be a single value: hyperband sets its resource itself."""
    if spec.algorithm and spec.algorithm.algorithm_name == "hyperband":
        name = settings_of(spec).get("resource_name")
        return frozenset({name}) if name else frozenset()
    return frozenset()


def check(spec: ExperimentSpec, name: str) -> list[Problem]:
    problems: list[Problem] = []
    algorithm = spec.algorithm
    if algorithm is not None and algorithm.algorithm_name in ALGORITHMS:
        info = ALGORITHMS[algorithm.algorithm_name]
        path: FieldPath = ("spec", "algorithm", "algorithmSettings")
        problems += check_settings(info, algorithm.algorithm_settings or [], path)
        problems += _search_space(info, spec, name)
    stopping = spec.early_stopping
    if stopping is not None and stopping.algorithm_name in EARLY_STOPPING:
        info = EARLY_STOPPING[stopping.algorithm_name]
        path = ("spec", "earlyStopping", "algorithmSettings")
        problems += check_settings(info, stopping.algorithm_settings or [], path)
    return problems


def check_settings(
    info: AlgorithmInfo,
    settings: Sequence[AlgorithmSetting | EarlyStoppingSetting],
    path: FieldPath,
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    known = [s.name for s in info.settings]
    for index, setting in enumerate(settings):
        where = (*path, index)
        if setting.name in seen:
            problems.append(
                Problem(
                    "setting-duplicate",
                    (*where, "name"),
                    f"setting {setting.name!r} is given twice",
                    "give each setting once",
                )
            )
        seen.add(setting.name)
        rule = info.setting(setting.name)
        if rule is None:
            if info.accepts_unknown:
                continue
            problems.append(
                Problem(
                    "setting-unknown",
                    (*where, "name"),
                    f"unknown setting {setting.name!r} for algorithm {info.name!r}",
                    did_you_mean(setting.name, known)
                    if known
                    else f"{info.name} takes no settings",
                )
            )
            continue
        wrong = rule.check(setting.value)
        if wrong is not None:
            problems.append(
                Problem(
                    "setting-value",
                    (*where, "value"),
                    f"{info.name} setting {setting.name} {wrong}, got {setting.value!r}",
                    f"set {setting.name} to a valid value"
                    + (f" (the default is {rule.default})" if rule.default else ""),
                )
            )
    for rule in info.settings:
        if rule.required and rule.name not in seen:
            problems.append(
                Problem(
                    "setting-required",
                    path,
                    f"algorithm {info.name!r} needs the setting {rule.name!r}",
                    f"add {rule.name} to the algorithm's settings",
                )
            )
    return problems


def _search_space(info: AlgorithmInfo, spec: ExperimentSpec, name: str) -> list[Problem]:
    parameters = spec.parameters or []
    problems: list[Problem] = []
    if info.is_nas and spec.nas_config is None:
        problems.append(
            Problem(
                "nas-config",
                ("spec", "nasConfig"),
                f"algorithm {info.name!r} searches architectures and needs spec.nasConfig",
                "describe the graph and operations in nas_config, "
                "or use a hyperparameter algorithm",
            )
        )
    if not info.is_nas and spec.nas_config is not None:
        problems.append(
            Problem(
                "nas-config",
                ("spec", "algorithm", "algorithmName"),
                f"algorithm {info.name!r} does not search architectures (spec.nasConfig is set)",
                "use 'enas' or 'darts' for a NAS experiment",
            )
        )
    check = _BY_ALGORITHM.get(info.name)
    if check is not None:
        problems += check(spec, parameters, name)
    return problems


def _grid(spec: ExperimentSpec, parameters: list[ParameterSpec], name: str) -> list[Problem]:
    problems = []
    combinations = 1
    for index, parameter in enumerate(parameters):
        space = parameter.feasible_space
        if parameter.parameter_type == "double" and not space.step:
            problems.append(
                Problem(
                    "grid-step",
                    ("spec", "parameters", index, "feasibleSpace", "step"),
                    f"grid needs a step for the double parameter {parameter.name!r}",
                    "give it a step, e.g. double(0.01, 0.05, step=0.01)",
                    yaml_hint='give its feasibleSpace a step, e.g. step: "0.01"',
                )
            )
            return problems
        combinations *= _grid_size(parameter)
    limit = spec.max_trial_count
    if limit is not None and combinations and limit > combinations:
        problems.append(
            Problem(
                "grid-size",
                ("spec", "maxTrialCount"),
                f"grid has only {combinations} combinations, fewer than maxTrialCount {limit}",
                f"lower max_trial_count to {combinations} or widen the grid",
            )
        )
    return problems


def _grid_size(parameter: ParameterSpec) -> int:
    space = parameter.feasible_space
    try:
        if parameter.parameter_type in _NUMERIC:
            low, high = float(space.min or "nan"), float(space.max or "nan")
            step = float(space.step or 1)
            return max(math.floor((high - low) / step + 1e-9) + 1, 0)
    except ValueError:
        return 0
    return len(space.list_ or [])


def _cmaes(spec: ExperimentSpec, parameters: list[ParameterSpec], name: str) -> list[Problem]:
    if sum(1 for p in parameters if p.parameter_type in _NUMERIC) >= 2:
        return []
    return [
        Problem(
            "cmaes-dimensions",
            ("spec", "parameters"),
            "cmaes needs at least two int or double parameters",
            "add another numeric parameter, or use another algorithm",
        )
    ]


def _skopt(spec: ExperimentSpec, parameters: list[ParameterSpec], name: str) -> list[Problem]:
    problems = []
    for index, parameter in enumerate(parameters):
        low = parameter.feasible_space.min
        if parameter.parameter_type == "double" and low is not None and _below_one(low):
            problems.append(
                Problem(
                    "bayesian-range",
                    ("spec", "parameters", index, "feasibleSpace", "min"),
                    "bayesianoptimization samples doubles log-uniformly (Katib's skopt "
                    f"service), so min must be > 0, got {low}",
                    "raise min above zero",
                )
            )
    return problems


def _below_one(text: str) -> bool:
    try:
        return float(text) <= 0
    except ValueError:
        return False


def _optuna(spec: ExperimentSpec, parameters: list[ParameterSpec], name: str) -> list[Problem]:
    problems = []
    for index, parameter in enumerate(parameters):
        distribution = parameter.feasible_space.distribution
        if distribution in ("normal", "logNormal"):
            algorithm = spec.algorithm.algorithm_name if spec.algorithm else ""
            problems.append(
                Problem(
                    "distribution-unsupported",
                    ("spec", "parameters", index, "feasibleSpace", "distribution"),
                    f"{algorithm} (Katib's optuna service) does not support the "
                    f"{distribution} distribution",
                    "use uniform or logUniform, or the random or tpe algorithm",
                )
            )
    return problems


def _grid_and_optuna(
    spec: ExperimentSpec, parameters: list[ParameterSpec], name: str
) -> list[Problem]:
    return _optuna(spec, parameters, name) + _grid(spec, parameters, name)


def _hyperband(spec: ExperimentSpec, parameters: list[ParameterSpec], name: str) -> list[Problem]:
    settings = settings_of(spec)
    problems = []
    resource = settings.get("resource_name")
    names = [p.name for p in parameters]
    if resource and resource not in names:
        problems.append(
            Problem(
                "hyperband-resource",
                ("spec", "algorithm", "algorithmSettings"),
                f"resource_name {resource!r} is not a search-space parameter",
                did_you_mean(resource, names) if names else "add the resource parameter",
            )
        )
    try:
        r_l = float(settings.get("r_l", ""))
        eta = int(float(settings.get("eta", "3")))
    except ValueError:
        return problems
    if r_l > 1 and eta >= 2:
        s_max = int(math.log(r_l) / math.log(eta))
        needed = math.ceil(eta**s_max)
        parallel = spec.parallel_trial_count or 0
        if parallel < needed:
            problems.append(
                Problem(
                    "hyperband-parallel",
                    ("spec", "parallelTrialCount"),
                    f"hyperband with r_l={settings['r_l']} and eta={eta} runs {needed} trials "
                    f"at once, but parallelTrialCount is {parallel}",
                    f"set parallel_trial_count to at least {needed}",
                )
            )
    return problems


def _pbt(spec: ExperimentSpec, parameters: list[ParameterSpec], name: str) -> list[Problem]:
    problems = []
    if spec.resume_policy != "FromVolume":
        problems.append(
            Problem(
                "pbt-resume",
                ("spec", "resumePolicy"),
                f"pbt keeps its population on a volume and needs resumePolicy FromVolume, "
                f"got {spec.resume_policy!r}",
                "set resume_policy='FromVolume'",
                yaml_hint="set spec.resumePolicy: FromVolume",
            )
        )
    if len(name) > PBT_MAX_NAME_LENGTH:
        problems.append(
            Problem(
                "pbt-name",
                ("metadata", "name"),
                f"pbt trial names add 37 characters to the experiment name, so it must be at "
                f"most {PBT_MAX_NAME_LENGTH} characters, got {len(name)}",
                "shorten the experiment name",
            )
        )
    for index, parameter in enumerate(parameters):
        if parameter.parameter_type == "double" and not parameter.feasible_space.step:
            problems.append(
                Problem(
                    "pbt-step",
                    ("spec", "parameters", index, "feasibleSpace", "step"),
                    f"pbt samples on a grid and needs a step for {parameter.name!r}",
                    "give the parameter a step",
                )
            )
    return problems


_BY_ALGORITHM = {
    "grid": _grid_and_optuna,
    "multivariate-tpe": _optuna,
    "cmaes": _cmaes,
    "bayesianoptimization": _skopt,
    "hyperband": _hyperband,
    "pbt": _pbt,
}
