"""Loading spec modules: imports the Python modules of the spec folder (every one, or those
asked for and what they import) as part of the `spec` package and gathers the Experiments
and Environments they define at module level. A module that raises, or does not parse,
becomes a Problem pointing at the line (and for a syntax error the column) at fault; the
other modules are loaded all the same, so that every problem is found in one run."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from pydantic import ValidationError

import generator
from generator.files.escaping import one_line
from generator.files.origin import Origin, display_path, paths_relative_to
from generator.katib.models import Experiment
from generator.language.configmaps import TrialTemplates
from generator.language.environments import Environment, GitOps
from generator.problems import Problem, ProblemReport, did_you_mean
from generator.specset import SpecSet

_UNEXPECTED = re.compile(r"(\w+)\(\) got an unexpected keyword argument '(\w+)'")


def spec_modules(spec_dir: Path) -> list[Path]:
    return sorted(p for p in spec_dir.glob("*.py") if not p.name.startswith("_"))


def load_specs(spec_dir: Path, only: Sequence[Path] | None = None) -> SpecSet:
    """Import the spec package at `spec_dir` (of its modules, `only` these when given). The
    modules that fail are problems in the SpecSet; a spec folder that is not there raises
    ProblemReport."""
    spec_dir = spec_dir.resolve()
    if not spec_dir.is_dir():
        raise ProblemReport(
            [
                Problem(
                    "spec-folder",
                    (),
                    f"spec folder {display_path(spec_dir)} does not exist",
                    "run hpo-gen from the project root, or pass --project",
                )
            ]
        )
    package = spec_dir.name
    _forget_package(package)
    sys.path.insert(0, str(spec_dir.parent))
    try:
        with paths_relative_to(spec_dir.parent):
            return _gather(spec_dir, package, only)
    finally:
        sys.path.remove(str(spec_dir.parent))
        _forget_package(package)


def _gather(spec_dir: Path, package: str, only: Sequence[Path] | None) -> SpecSet:
    found = SpecSet()
    problems = found.problems
    tracebacks = found.tracebacks
    seen: dict[str, Experiment] = {}
    seen_envs: dict[str, Environment] = {}
    seen_templates: dict[str, TrialTemplates] = {}
    chosen = {p.resolve() for p in only} if only is not None else None
    for path in spec_modules(spec_dir):
        if chosen is not None and path.resolve() not in chosen:
            continue
        try:
            module = importlib.import_module(f"{package}.{path.stem}")
        except (Exception, SystemExit) as err:  # a spec module may raise anything, exit too
            problems.append(_import_problem(err, path, spec_dir))
            tracebacks.append("".join(traceback.format_exception(err)))
            continue
        for value in _module_values(module):
            if isinstance(value, Experiment):
                other = seen.get(value.name)
                if other is not None and other is not value:
                    problems.append(_duplicate(value.name, "experiment", value.origin))
                elif other is None:
                    seen[value.name] = value
                    found.modules[value.name] = f"{package}/{path.name}"
            elif isinstance(value, Environment):
                env = seen_envs.get(value.name)
                if env is not None and env is not value:
                    problems.append(_duplicate(value.name, "environment", value.origin))
                seen_envs.setdefault(value.name, value)
            elif isinstance(value, TrialTemplates):
                known = seen_templates.get(value.name)
                if known is not None and known is not value:
                    problems.append(
                        _duplicate(value.name, "trial-templates ConfigMap", value.origin)
                    )
                seen_templates.setdefault(value.name, value)
            elif isinstance(value, GitOps):
                if found.gitops is not None and found.gitops is not value:
                    problems.append(
                        Problem(
                            "duplicate-gitops",
                            (),
                            "gitops(...) is declared twice; the repository has one remote",
                            "keep one gitops(...) declaration, beside the environments",
                            origin=value.origin,
                        )
                    )
                elif found.gitops is None:
                    found.gitops = value
    found.experiments = [seen[name] for name in sorted(seen)]
    found.environments = [seen_envs[name] for name in sorted(seen_envs)]
    found.trial_templates = [seen_templates[name] for name in sorted(seen_templates)]
    return found


_SPEC_TYPES = (Experiment, Environment, TrialTemplates)


def _module_values(module: ModuleType) -> list[object]:
    """A module's public values, and the items of its public lists, tuples and dicts: a
    spec that builds experiments in a loop keeps them in a collection."""
    values: list[object] = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        values.append(value)
        if isinstance(value, list | tuple):
            values += [v for v in value if isinstance(v, _SPEC_TYPES)]
        elif isinstance(value, dict):
            values += [v for v in value.values() if isinstance(v, _SPEC_TYPES)]
    return values


def _import_problem(err: Exception | SystemExit, path: Path, spec_dir: Path) -> Problem:
    if isinstance(err, SyntaxError) and err.filename:
        return _syntax_problem(err, path)
    frames = [
        frame
        for frame in traceback.extract_tb(err.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(spec_dir)
    ]
    last = frames[-1] if frames else None
    origin = Origin(display_path(Path(last.filename)), last.lineno or 0) if last else None
    if isinstance(err, ValidationError):
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        message = f"invalid value for {err.title}: {detail}"
    elif isinstance(err, SystemExit):
        message = f"SystemExit({err.code!r}): a spec module must define specs, not end the program"
    else:
        message = f"{type(err).__name__}: {err}"
    return Problem(
        "spec-module",
        (),
        f"spec module {display_path(path)} raised {message}",
        _call_hint(err) or "fix the call at this line; --debug shows the full traceback",
        origin=origin or Origin(display_path(path), 1),
    )


def _syntax_problem(err: SyntaxError, path: Path) -> Problem:
    """A module (or one it imports) that does not parse: at the line and column Python
    names."""
    where = Origin(display_path(Path(str(err.filename))), err.lineno or 1, err.offset or 0)
    source = (err.text or "").strip()
    return Problem(
        "spec-syntax",
        (),
        f"spec module {display_path(path)} is not valid Python: {err.msg}"
        + (f" in `{one_line(source)}`" if source else ""),
        "correct the Python syntax at this line and column",
        origin=where,
    )


def _call_hint(err: BaseException) -> str | None:
    """For a builder called with an argument it does not take, the arguments it takes."""
    if not isinstance(err, TypeError):
        return None
    found = _UNEXPECTED.search(str(err))
    if found is None:
        return None
    function, argument = found.group(1), found.group(2)
    builder = getattr(generator, function, None)
    if builder is None or not callable(builder):
        return None
    try:
        names = [p for p in inspect.signature(builder).parameters if not p.startswith("_")]
    except (TypeError, ValueError):
        return None
    takes = f"{function}() takes {', '.join(names)}"
    guess = did_you_mean(argument, names)
    return f"{guess} {takes}" if guess.startswith("did you mean") else takes


def _duplicate(name: str, what: str, origin: Origin | None) -> Problem:
    return Problem(
        f"duplicate-{what}",
        (),
        f"two different {what}s are named {name!r}",
        f"give every {what} its own name",
        origin=origin,
    )


def _forget_package(package: str) -> None:
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
