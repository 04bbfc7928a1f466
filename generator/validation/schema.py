"""The strict wire-shape checks: a rendered Experiment manifest against the JSON schema
derived from Katib's typed OpenAPI, and a batch/v1 Job trial template against the Job
schema derived from the kubernetes client (see `schemas/ORIGIN.md`)."""

from __future__ import annotations

import json
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


def check_manifest(manifest: Manifest, experiment: str | None = None) -> list[Problem]:
    """Every place where `manifest` departs from the Katib Experiment schema."""
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
    return [
        Problem(
            code="trial-job-schema",
            path=(*at, *error.absolute_path),
            message=f"is not a valid batch/v1 Job field: {_message(error)}",
            hint="use only the fields and types of the Kubernetes batch/v1 Job API",
        )
        for error in _validator("job-batch-v1.json").iter_errors(manifest)
    ]
