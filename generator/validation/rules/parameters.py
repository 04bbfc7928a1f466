"""Search-space rules: parameter types, distributions and feasible spaces. Katib checks
only that the right fields are present; hpo-gen also checks that they make sense
(numbers that parse, min < max, step > 0, log spaces above zero, non-empty duplicate-free
lists, unique names)."""

from __future__ import annotations

import math

from generator.katib.models import ExperimentSpec, FeasibleSpace, ParameterSpec
from generator.problems import FieldPath, Problem, did_you_mean

PARAMETER_TYPES = ("int", "double", "categorical", "discrete")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
_LOG_DISTRIBUTIONS = ("logUniform", "logNormal")


def check(spec: ExperimentSpec, fixed: frozenset[str] = frozenset()) -> list[Problem]:
    """`fixed` names parameters whose range may be a single value (min == max)."""
    parameters = spec.parameters or []
    problems: list[Problem] = []
    if not parameters and spec.nas_config is None:
        problems.append(
            Problem(
                "search-space",
                ("spec",),
                "spec.parameters or spec.nasConfig must be specified",
                "give the experiment a search space, e.g. parameters=SearchSpace(lr=double(...))",
                yaml_hint="list the parameters under spec.parameters, each with a name, "
                "parameterType and feasibleSpace",
            )
        )
    if parameters and spec.nas_config is not None:
        problems.append(
            Problem(
                "search-space",
                ("spec",),
                "only one of spec.parameters and spec.nasConfig can be specified",
                "remove either the parameters or the NAS config",
            )
        )
    seen: dict[str, int] = {}
    for index, parameter in enumerate(parameters):
        path: FieldPath = ("spec", "parameters", index)
        if parameter.name in seen:
            problems.append(
                Problem(
                    "parameter-name",
                    (*path, "name"),
                    f"duplicate parameter name {parameter.name!r} "
                    f"(also spec.parameters[{seen[parameter.name]}])",
                    "give every parameter its own name",
                )
            )
        seen.setdefault(parameter.name, index)
        problems += check_parameter(parameter, path, parameter.name in fixed)
    return problems


def check_parameter(
    parameter: ParameterSpec, path: FieldPath, may_be_fixed: bool = False
) -> list[Problem]:
    kind = parameter.parameter_type
    space = parameter.feasible_space
    space_path = (*path, "feasibleSpace")
    problems: list[Problem] = []
    if not parameter.name:
        problems.append(
            Problem("parameter-name", (*path, "name"), "is required", "name the parameter")
        )
    if kind not in PARAMETER_TYPES:
        problems.append(
            Problem(
                "parameter-type",
                (*path, "parameterType"),
                f"invalid parameter type {kind!r}",
                did_you_mean(kind, PARAMETER_TYPES),
            )
        )
    if space.distribution and space.distribution not in DISTRIBUTIONS:
        problems.append(
            Problem(
                "distribution",
                (*space_path, "distribution"),
                f"invalid distribution {space.distribution!r}",
                did_you_mean(space.distribution, DISTRIBUTIONS),
            )
        )
    if kind in ("int", "double"):
        problems += _numeric(kind, space, space_path, may_be_fixed)
    elif kind in ("categorical", "discrete"):
        problems += _listed(kind, space, space_path)
    return problems


def _numeric(kind: str, space: FeasibleSpace, path: FieldPath, may_be_fixed: bool) -> list[Problem]:
    problems: list[Problem] = []
    builder = "integer" if kind == "int" else "double"
    if space.list_:
        problems.append(
            Problem(
                "feasible-space",
                (*path, "list"),
                f"a {kind} parameter takes min and max, not a list",
                f"use {builder}(min, max), or categorical([...]) for a list of values",
                yaml_hint="give feasibleSpace min and max, or make it parameterType: "
                "categorical for a list of values",
            )
        )
    bounds = {}
    for field in ("min", "max", "step"):
        text = getattr(space, field)
        if text is None:
            if field != "step":
                problems.append(
                    Problem(
                        "feasible-space",
                        (*path, field),
                        f"is required for a {kind} parameter",
                        f"give both bounds: {builder}(min, max)",
                    )
                )
            continue
        value = _parse(kind, text)
        if value is None:
            expected = "an integer" if kind == "int" else "a finite number"
            problems.append(
                Problem(
                    "feasible-space",
                    (*path, field),
                    f"must be {expected}, got {text!r}",
                    f"write {field} as {expected}",
                )
            )
            continue
        bounds[field] = value
    low, high, step = bounds.get("min"), bounds.get("max"), bounds.get("step")
    if low is not None and high is not None and (low > high or (low == high and not may_be_fixed)):
        problems.append(
            Problem(
                "parameter-range",
                path,
                f"min must be less than max, got min={space.min}, max={space.max}",
                f"swap or widen the bounds: {builder}({_fmt(min(low, high))}, "
                f"{_fmt(max(low, high) if low != high else high + 1)})",
                yaml_hint=f'swap or widen the bounds: min: "{_fmt(min(low, high))}", '
                f'max: "{_fmt(max(low, high) if low != high else high + 1)}"',
            )
        )
    if step is not None and step <= 0:
        problems.append(
            Problem(
                "parameter-step",
                (*path, "step"),
                f"must be greater than 0, got {space.step}",
                "use a positive step, or leave it out",
            )
        )
    if space.distribution in _LOG_DISTRIBUTIONS and low is not None and low <= 0:
        problems.append(
            Problem(
                "parameter-range",
                (*path, "min"),
                f"a {space.distribution} distribution needs min > 0, got {space.min}",
                "raise min above zero, or use the uniform distribution",
            )
        )
    return problems


def _listed(kind: str, space: FeasibleSpace, path: FieldPath) -> list[Problem]:
    problems: list[Problem] = []
    for field in ("min", "max", "step"):
        if getattr(space, field) is not None:
            problems.append(
                Problem(
                    "feasible-space",
                    (*path, field),
                    f"a {kind} parameter takes a list, not {field}",
                    f"list the values: {kind}([...])",
                )
            )
    values = space.list_ or []
    if not values:
        problems.append(
            Problem(
                "feasible-space",
                (*path, "list"),
                f"a {kind} parameter needs at least one value",
                f"list the values: {kind}([...])",
            )
        )
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            problems.append(
                Problem(
                    "feasible-space",
                    (*path, "list", index),
                    f"duplicate value {value!r}",
                    "list every value once",
                )
            )
        seen.add(value)
        if kind == "discrete" and _parse("double", value) is None:
            problems.append(
                Problem(
                    "feasible-space",
                    (*path, "list", index),
                    f"a discrete parameter takes numbers, got {value!r}",
                    "use categorical([...]) for values that are not numbers",
                    yaml_hint="use parameterType: categorical for values that are not numbers",
                )
            )
    return problems


def _parse(kind: str, text: str) -> float | None:
    try:
        value = float(int(text)) if kind == "int" else float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
