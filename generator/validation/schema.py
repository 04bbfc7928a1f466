"""The strict wire-shape checks: a rendered Experiment manifest against the JSON schema
derived from Katib's typed OpenAPI, and a batch/v1 Job trial template against the Job
schema derived from the kubernetes client (see `schemas/ORIGIN.md`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from generator.katib.base import Manifest
from generator.problems import Problem

# The integer formats of Kubernetes' OpenAPI: the API server refuses a number out of range.
_INTEGERS = FormatChecker(formats=())
_INT_RANGES = {"int32": 31, "int64": 63}


def _in_range(bits: int) -> Any:
    def check(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True  # a type error, reported by "type"
        return bool(-(2**bits) <= value < 2**bits)

    return check


for _format, _bits in _INT_RANGES.items():
    _INTEGERS.checks(_format)(_in_range(_bits))


@cache
def _validator(name: str) -> Draft202012Validator:
    text = resources.files("generator").joinpath(f"schemas/{name}").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return Draft202012Validator(schema, format_checker=_INTEGERS)


# Manifests known to match, as their shapes (see `_shape_key`): specs built in a loop share
# everything the schemas look at but names and arguments, and are checked once.
_MATCHING: set[tuple[str, str]] = set()
_MATCHING_KEPT = 4096


def _shape_key(manifest: Any, free: frozenset[str]) -> str:
    """The manifest as its schema sees it: the values of `free` fields, which the schema
    takes any string (or any object) for, blanked when they are of that type."""
    return json.dumps(_blanked(manifest, free), sort_keys=True, separators=(",", ":"))


def _blanked(value: Any, free: frozenset[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in free and isinstance(item, dict):
                out[key] = {}
            elif key in free and isinstance(item, str):
                out[key] = ""
            elif key in free and isinstance(item, list) and all(isinstance(i, str) for i in item):
                out[key] = []
            else:
                out[key] = _blanked(item, free)
        return out
    if isinstance(value, list):
        return [_blanked(item, free) for item in value]
    return value


# The Experiment schema takes any object for a trialSpec and any string for a name; the Job
# schema any list of strings for a container's command and args.
_EXPERIMENT_FREE = frozenset({"trialSpec", "name"})
_JOB_FREE = frozenset({"args", "command"})


def _remembered(
    schema: str, manifest: Any, free: frozenset[str], check: Callable[[], list[Problem]]
) -> list[Problem]:
    """`check()`, unless a manifest of the same shape has matched the schema before."""
    key = (schema, _shape_key(manifest, free))
    if key in _MATCHING:
        return []
    problems = check()
    if not problems and len(_MATCHING) < _MATCHING_KEPT:
        _MATCHING.add(key)
    return problems


def check_manifest(manifest: Manifest, experiment: str | None = None) -> list[Problem]:
    """Every place where `manifest` departs from the Katib Experiment schema."""
    return _remembered(
        "experiment", manifest, _EXPERIMENT_FREE, lambda: _experiment_problems(manifest, experiment)
    )


def _experiment_problems(manifest: Manifest, experiment: str | None) -> list[Problem]:
    return [
        Problem(
            code="schema",
            path=tuple(error.absolute_path),
            message=f"does not match Katib's Experiment schema: {_message(error)}",
            hint="use only the fields and types of Katib's v1beta1 Experiment API",
            experiment=experiment,
        )
        for error in _validator("experiment-v1beta1.json").iter_errors(manifest)
    ]


def departing_paths(manifest: Manifest) -> list[tuple[str | int, ...]] | None:
    """The fields to leave out of `manifest` for what remains to match the schema, so that
    the rules can check the rest in the same run: each wrong value, each unknown field.
    None when no such set exists (the document itself is of the wrong shape)."""
    paths: list[tuple[str | int, ...]] = []
    for error in _validator("experiment-v1beta1.json").iter_errors(manifest):
        at = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            paths += [(*at, key) for key in error.instance if key not in known]
        elif error.validator == "required" or not at:
            continue  # nothing to leave out; the rules may name it too
        else:
            paths.append(at)
    return paths if paths else None


def _message(error: ValidationError) -> str:
    if error.validator == "format" and error.validator_value in _INT_RANGES:
        bits = _INT_RANGES[error.validator_value]
        return (
            f"{error.instance!r} is out of the {error.validator_value} range "
            f"[-2^{bits}, 2^{bits} - 1] that the API server accepts"
        )
    return error.message


def check_job(manifest: Manifest, at: tuple[str | int, ...]) -> list[Problem]:
    """Every place where a batch/v1 Job trial template departs from the Job schema."""
    return _remembered("job", manifest, _JOB_FREE, lambda: _job_problems(manifest, at))


def _job_problems(manifest: Manifest, at: tuple[str | int, ...]) -> list[Problem]:
    return [
        Problem(
            code="trial-job-schema",
            path=(*at, *error.absolute_path),
            message=f"is not a valid batch/v1 Job field: {_message(error)}",
            hint="use only the fields and types of the Kubernetes batch/v1 Job API",
        )
        for error in _validator("job-batch-v1.json").iter_errors(manifest)
    ]
