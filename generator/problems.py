"""Problems found in specs: structured records (rule code, wire path, what, fix, where)
and the one place that turns them into text or JSON."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from generator.files.escaping import one_line
from generator.files.origin import Origin

# A wire field path: keys and list indexes from the top of the object, e.g.
# ("spec", "parameters", 1, "feasibleSpace", "min").
FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# The spec language's arguments that set one Katib field each, as that field's YAML path.
_YAML_FIELDS = {
    "max_trial_count": "spec.maxTrialCount",
    "max_failed_trial_count": "spec.maxFailedTrialCount",
    "parallel_trial_count": "spec.parallelTrialCount",
    "resume_policy": "spec.resumePolicy",
    "additional_metrics": "spec.objective.additionalMetricNames",
    "metrics_format": "spec.metricsCollectorSpec.source.filter.metricsFormat",
    "nas_config": "spec.nasConfig",
    "graph_config": "spec.nasConfig.graphConfig",
}
_YAML_WORDS = re.compile(r"\b(" + "|".join(_YAML_FIELDS) + r")\b")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec.

    code: a stable rule identifier (`parameter-range`); path: the wire field path;
    message: the rule and the value received; hint: how to fix it in a Python spec;
    experiment: the Experiment's name when known; origin: the file and line that wrote
    the value; yaml_hint: how to fix it in Katib YAML, where that is said otherwise (see
    `in_yaml`).
    """

    code: str
    path: FieldPath
    message: str
    hint: str
    experiment: str | None = None
    origin: Origin | None = None
    yaml_hint: str | None = None

    def in_yaml(self) -> Problem:
        """The problem as a Katib YAML file's author reads it: the YAML fix, or the Python
        one with the spec language's argument names written as the YAML fields they set."""
        hint = self.yaml_hint or _YAML_WORDS.sub(lambda m: _YAML_FIELDS[m.group(0)], self.hint)
        return replace(self, hint=hint, yaml_hint=None)

    def sort_key(self) -> tuple[str, int, str, str, str]:
        origin = self.origin or Origin("", 0)
        return (origin.file, origin.line, self.experiment or "", format_path(self.path), self.code)

    def to_json(self) -> dict[str, Any]:
        """The problem as JSON; "column" only where it is known (a syntax error)."""
        found = {
            "code": self.code,
            "file": self.origin.file if self.origin else None,
            "line": self.origin.line if self.origin else None,
            "experiment": self.experiment,
            "path": format_path(self.path),
            "message": self.message,
            "hint": self.hint,
        }
        if self.origin is not None and self.origin.column:
            found["column"] = self.origin.column
        return found


@dataclass
class ProblemReport(Exception):
    """Raised when specs have problems; carries every problem found, not just the first,
    and the tracebacks behind them for `--debug`."""

    problems: list[Problem] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(format_problems(self.problems))


def format_problem(problem: Problem) -> str:
    where = f"{problem.origin}: " if problem.origin else ""
    who = f"experiment {problem.experiment!r}: " if problem.experiment else ""
    path = f"{format_path(problem.path)}: " if problem.path else ""
    head = one_line(f"{where}{who}{path}{problem.message} [{problem.code}]")
    return f"{head}\n  fix: {one_line(problem.hint)}"


def format_problems(problems: Sequence[Problem]) -> str:
    ordered = sorted(problems, key=Problem.sort_key)
    count = len(ordered)
    noun = "problem" if count == 1 else "problems"
    head = f"{count} {noun} found"
    return "\n".join([head, *(format_problem(p) for p in ordered)])


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A "did you mean" suffix for a misspelt name, or a list of the valid names."""
    options = sorted(choices)
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "expected one of: " + ", ".join(repr(o) for o in options)
