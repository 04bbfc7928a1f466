"""Katib Experiment YAML as input: each Experiment document of a file is checked against
the strict schema, parsed into the models and validated like a Python spec, with every
problem placed at the YAML line of its field. Other documents (ConfigMaps, Namespaces)
are the cluster state the Experiments are checked against."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generator.files import yamlio
from generator.files.origin import Origin
from generator.katib.models import Experiment
from generator.problems import FieldPath, Problem
from generator.rendering import METRICS_COLLECTOR_LABEL
from generator.validation.admission import validate_experiment
from generator.validation.context import Context
from generator.validation.schema import check_manifest, departing_paths


@dataclass
class YamlDocument:
    file: str
    data: Any
    lines: yamlio.LineTable

    def origin(self, path: FieldPath) -> Origin:
        """The line of the deepest part of `path` that the file spells out."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return Origin(self.file, line + 1)
        return Origin(self.file, 1)

    @property
    def is_experiment(self) -> bool:
        return isinstance(self.data, dict) and self.data.get("kind") == "Experiment"


@dataclass
class YamlResult:
    experiments: list[Experiment] = field(default_factory=list)  # defaulted, valid or not
    problems: list[Problem] = field(default_factory=list)


def read_text(path: Path, file: str) -> tuple[str | None, list[Problem]]:
    """A YAML file's text, or the problem that keeps it from being read (a file that
    cannot be opened, bytes that are not UTF-8, which YAML requires here)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, [
            _file_problem(file, 1, f"cannot be read: {err.strerror or err}", "check the path")
        ]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return None, [
            _file_problem(
                file,
                line,
                f"is not UTF-8 text: byte {data[err.start]:#04x} at offset {err.start}",
                "save the file as UTF-8",
            )
        ]


def _file_problem(file: str, line: int, message: str, hint: str) -> Problem:
    return Problem("file", (), f"{file} {message}", hint, origin=Origin(file, line))


def read_documents(text: str, file: str) -> tuple[list[YamlDocument], list[Problem]]:
    """The documents of a YAML text, or the problem that keeps it from being read: a
    syntax error, a bound of `yamlio.check_limits` passed, a number JSON cannot hold."""
    try:
        loaded = yamlio.load_all_with_lines(text)
    except yamlio.LimitError as err:
        return [], [
            Problem("yaml-limit", (), str(err), err.hint, origin=Origin(file, err.line + 1))
        ]
    except yamlio.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line = (mark.line + 1) if mark is not None else 1
        reason = getattr(err, "problem", None) or str(err).splitlines()[0]
        return [], [
            Problem(
                "yaml-parse",
                (),
                f"is not valid YAML: {reason}",
                "fix the YAML syntax at this line",
                origin=Origin(file, line),
            )
        ]
    documents = [YamlDocument(file, data, lines) for data, lines in loaded]
    problems = [
        Problem(
            "non-finite",
            path,
            f"is {value!r}, which Kubernetes cannot hold: JSON has no NaN or infinity",
            "write a finite number",
            _name_of(document.data),
            document.origin(path),
        )
        for document in documents
        for path, value in _non_finite(document.data, ())
    ]
    if problems:
        return [], problems
    return documents, []


def _non_finite(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, float]]:
    if isinstance(value, float) and not math.isfinite(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*path, index))


def check_documents(documents: list[YamlDocument], context: Context) -> YamlResult:
    """Validate every Experiment among `documents`, the others serving as cluster state."""
    context = context.with_documents(d.data for d in documents if isinstance(d.data, dict))
    namespaces = _namespaces(documents)
    result = YamlResult()
    for document in documents:
        if not document.is_experiment:
            continue
        experiment, problems = _experiment(document, context)
        if experiment is not None:
            problems += _namespace_label(experiment, namespaces)
            result.experiments.append(experiment)
        for problem in problems:
            origin = problem.origin or document.origin(problem.path)
            result.problems.append(_with(problem, origin, _name_of(document.data)))
    return result


def _experiment(
    document: YamlDocument, context: Context
) -> tuple[Experiment | None, list[Problem]]:
    problems = check_manifest(document.data)
    data = document.data
    if problems:  # the rest is checked too, without the fields the schema refuses
        departing = departing_paths(document.data)
        if departing is None:
            return None, problems
        data = _without(document.data, departing)
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as err:
        found = [_pydantic_problem(error) for error in err.errors()]
        return None, problems + _elsewhere(found, problems)
    defaulted, found = validate_experiment(experiment, context)
    if problems:
        return None, problems + _elsewhere(found, problems)
    return defaulted, found


def _without(data: Any, paths: list[FieldPath]) -> Any:
    """A copy of `data` with the values at `paths` left out."""
    pruned = copy.deepcopy(data)
    for path in sorted(paths, key=len, reverse=True):
        parent = pruned
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif isinstance(parent, list) and isinstance(path[-1], int):
            parent[path[-1]] = None  # its index stays; the rules skip what is None
    return pruned


def _elsewhere(found: list[Problem], known: list[Problem]) -> list[Problem]:
    """The problems of `found` not about a field a problem of `known` is about (or within
    it, or around it): a value left out is not reported a second time as missing."""

    def related(a: FieldPath, b: FieldPath) -> bool:
        shorter = min(len(a), len(b))
        return tuple(a[:shorter]) == tuple(b[:shorter]) and shorter > 0

    return [p for p in found if not any(related(p.path, k.path) for k in known)]


def _pydantic_problem(error: Any) -> Problem:
    path = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        return Problem(
            "unknown-field",
            path,
            f"unknown field {path[-1]!r}",
            "remove it; hpo-gen reads only the fields Katib's API defines",
        )
    return Problem(
        "invalid-value", path, f"{error['msg']}, got {error['input']!r}", "fix the value"
    )


def _namespaces(documents: list[YamlDocument]) -> dict[str, dict[str, Any]]:
    found = {}
    for document in documents:
        data = document.data
        if isinstance(data, dict) and data.get("kind") == "Namespace":
            metadata = data.get("metadata") or {}
            if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
                found[metadata["name"]] = metadata
    return found


def _namespace_label(
    experiment: Experiment, namespaces: dict[str, dict[str, Any]]
) -> list[Problem]:
    metadata = namespaces.get(experiment.metadata.namespace or "")
    if metadata is None:
        return []
    labels = metadata.get("labels") or {}
    if labels.get(METRICS_COLLECTOR_LABEL) == "enabled":
        return []
    return [
        Problem(
            "namespace-label",
            ("metadata", "namespace"),
            f"namespace {experiment.metadata.namespace!r} lacks the label "
            f"{METRICS_COLLECTOR_LABEL}: enabled, so Katib rejects Experiments in it",
            "label the namespace (hpo-gen's overlays do)",
        )
    ]


def _name_of(data: Any) -> str | None:
    metadata = data.get("metadata") if isinstance(data, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


def _with(problem: Problem, origin: Origin, experiment: str | None) -> Problem:
    """The problem at its line of the YAML, its fix said in YAML."""
    return replace(problem.in_yaml(), experiment=problem.experiment or experiment, origin=origin)
