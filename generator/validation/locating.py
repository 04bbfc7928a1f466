"""Finds where a wire field was written: walks an Experiment along a field path and
returns the origin of the deepest model on the way that has one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generator.files.origin import Origin
from generator.katib.base import KatibModel
from generator.problems import FieldPath, Problem


def locate(root: KatibModel, path: FieldPath) -> Origin | None:
    found = root.origin
    node: Any = root
    for part in path:
        node = _step(node, part)
        if node is None:
            break
        if isinstance(node, KatibModel) and node.origin is not None:
            found = node.origin
    return found


def _step(node: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return node[part] if isinstance(node, list) and 0 <= part < len(node) else None
    if isinstance(node, KatibModel):
        for name, field in type(node).model_fields.items():
            if (field.alias or name) == part:
                return getattr(node, name)
        return None
    if isinstance(node, dict):
        return node.get(part)
    return None


def place(problems: list[Problem], root: KatibModel, experiment: str | None) -> list[Problem]:
    """The problems with their experiment name and, where missing, their origin filled in."""
    placed = []
    for problem in problems:
        origin = problem.origin or locate(root, problem.path)
        placed.append(replace(problem, experiment=problem.experiment or experiment, origin=origin))
    return placed
