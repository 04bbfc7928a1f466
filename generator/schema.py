"""The strict wire-shape check: a rendered Experiment manifest against the JSON schema
derived from Katib's typed OpenAPI (see `schemas/ORIGIN.md`)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from generator._base import Manifest
from generator.problems import Problem


@cache
def experiment_validator() -> Draft202012Validator:
    text = (
        resources.files("generator")
        .joinpath("schemas/experiment-v1beta1.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return Draft202012Validator(schema)


def check_manifest(manifest: Manifest, experiment: str | None = None) -> list[Problem]:
    """Every place where `manifest` departs from the Katib Experiment schema."""
    problems = []
    for error in experiment_validator().iter_errors(manifest):
        path = tuple(error.absolute_path)
        problems.append(
            Problem(
                code="schema",
                path=path,
                message=f"does not match Katib's Experiment schema: {error.message}",
                hint="use only the fields and types of Katib's v1beta1 Experiment API",
                experiment=experiment,
            )
        )
    return problems
