"""Reading the results hpo-controller committed under `status/<env>/`: the state of each
experiment, and its best trial handed to the next pipeline step as JSON, command-line
arguments or environment variables."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from generator.files.escaping import ENV_NAME
from generator.files.origin import Origin
from generator.katib.repository import (
    DEMO_FOLDER,
    STATUS_FOLDER,
    WORK_FOLDER,
    declared_environments,
)
from generator.katib.status import StatusDocument, StatusError, load_status_file, read_status
from generator.problems import Problem, ProblemReport, did_you_mean

BestFormat = Literal["json", "args", "env"]


@dataclass(frozen=True)
class ExperimentResult:
    environment: str
    name: str
    state: str  # Running, Succeeded or Failed
    reason: str
    message: str  # the ending condition's message ("" while running)
    trials: int
    succeeded: int
    failed: int
    best_trial: str | None
    objective: str | None
    best_value: float | None
    parameters: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "experiment": self.name,
            "state": self.state,
            "reason": self.reason,
            "trials": self.trials,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "best": None
            if self.best_trial is None
            else {
                "trial": self.best_trial,
                "objective": {"name": self.objective, "value": self.best_value},
                "parameters": self.parameters,
            },
        }


def read_results(root: Path, environment: str | None = None) -> list[ExperimentResult]:
    """Every experiment's result, sorted by environment and name. An environment that is
    neither rendered nor among the results is a ProblemReport naming the known ones."""
    folder = root / STATUS_FOLDER
    if environment is not None:
        known = known_environments(root)
        if environment not in known:
            hint = did_you_mean(environment, known) if known else "run `hpo-gen render` first"
            raise ProblemReport(
                [Problem("environment", (), f"no environment named {environment!r}", hint)]
            )
    results = []
    for path in sorted(folder.glob("*/*.yaml")):
        if environment is not None and path.parent.name != environment:
            continue
        results.append(read_result(path, root))
    return results


def known_environments(root: Path) -> list[str]:
    """The environments rendered in overlays/ and those with results in status/."""
    folder = root / STATUS_FOLDER
    with_results = [p.name for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    return sorted({*declared_environments(root), *with_results})


def no_results(root: Path, environment: str | None) -> str:
    """What to say where there are no results: for which environments, how to make them,
    and where the demo's are when `make demo` has run here."""
    environments = [environment] if environment else declared_environments(root)
    where = f"{STATUS_FOLDER}/{environment}/" if environment else f"{STATUS_FOLDER}/"
    if not environments:
        text = f"no results in {where}, and no environment is rendered: run `hpo-gen render`"
    else:
        text = (
            f"no results in {where} yet (environment{'s' if len(environments) > 1 else ''} "
            f"{', '.join(environments)}): run `hpo-controller run --env {environments[0]}`"
        )
    kept = root / WORK_FOLDER / "results"
    for env in sorted(p.name for p in kept.iterdir() if p.is_dir()) if kept.is_dir() else []:
        if environment in (None, env) and (kept / env / STATUS_FOLDER).is_dir():
            text += (
                f"\n{env}'s results go to a status branch, and hpo-controller keeps them in "
                f"{WORK_FOLDER}/results/{env}/: see them with `hpo-gen status --project "
                f"{WORK_FOLDER}/results/{env}`"
            )
    demo = root / DEMO_FOLDER
    if (demo / STATUS_FOLDER).is_dir():
        text += (
            f"\n`make demo` ran in a scratch copy: its results are in {DEMO_FOLDER}/; "
            f"see them with `hpo-gen status --project {DEMO_FOLDER}`"
        )
    return text


def read_result(path: Path, root: Path) -> ExperimentResult:
    """One status file's result; ProblemReport naming the file and how to recover where it
    is not a status file (cut short, with a merge's conflict markers, of another shape)."""
    shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    try:
        return _result(path.parent.name, read_status(load_status_file(path)))
    except StatusError as err:
        raise ProblemReport([_corrupt(shown, err.line, str(err))]) from err


def _corrupt(shown: str, line: int, reason: str) -> Problem:
    return Problem(
        "status-file",
        (),
        f"{shown} is not a status file hpo-controller wrote ({reason})",
        f"restore it with `git checkout -- {shown}` (or resolve the merge), or run the "
        "experiment again with `hpo-controller run --rerun`",
        origin=Origin(shown, line),
    )


def _result(environment: str, document: StatusDocument) -> ExperimentResult:
    status = document.status
    ended = status.ended()
    optimal = status.current_optimal_trial
    metrics = optimal.observation.metrics if optimal is not None else []
    return ExperimentResult(
        environment=environment,
        name=document.experiment,
        state=ended.type if ended is not None else "Running",
        reason=ended.reason if ended is not None else "",
        message=(ended.message or "") if ended is not None else "",
        trials=status.trials,
        succeeded=status.trials_succeeded,
        failed=status.trials_failed + status.trial_metrics_unavailable,
        best_trial=optimal.best_trial_name if optimal is not None else None,
        objective=metrics[0].name if metrics else None,
        best_value=optimal.objective_value if optimal is not None else None,
        parameters={a.name: a.value for a in optimal.parameter_assignments} if optimal else {},
    )


def best(root: Path, name: str, environment: str | None) -> ExperimentResult:
    """The result of one experiment that has a best trial; ProblemReport otherwise."""
    results = read_results(root, environment)
    found = [r for r in results if r.name == name]
    where = f"environment {environment!r}" if environment else "any environment"
    if not found:
        names = sorted({r.name for r in results})
        hint = did_you_mean(name, names) if names else "run `hpo-controller run --env ENV` first"
        raise ProblemReport([Problem("results", (), f"no results for {name!r} in {where}", hint)])
    if len(found) > 1:
        envs = ", ".join(r.environment for r in found)
        raise ProblemReport(
            [Problem("results", (), f"{name!r} has results in {envs}", "choose one with --env")]
        )
    result = found[0]
    if result.best_trial is None:
        raise ProblemReport([_no_best(result)])
    return result


def _no_best(result: ExperimentResult) -> Problem:
    """Why an experiment has no best trial, and what to do about it."""
    report = f"{STATUS_FOLDER}/{result.environment}/{result.name}.md"
    counts = f"{result.trials} trials, {result.failed} failed"
    if result.state == "Running":
        return Problem(
            "results",
            (),
            f"{result.name!r} is running and has no successful trial yet ({counts})",
            "wait for a trial to succeed (`hpo-gen status` shows the progress)",
        )
    return Problem(
        "results",
        (),
        f"{result.name!r} {'failed' if result.state == 'Failed' else 'ended'} "
        f"({result.reason}: {result.message}) with no successful trial ({counts})",
        f"read why its trials failed in {report} and their logs, fix the trials, then run "
        f"it again with `hpo-controller run --env {result.environment} --rerun`",
    )


def format_best(result: ExperimentResult, style: BestFormat) -> str:
    if style == "json":
        return json.dumps({"experiment": result.name} | result.to_json()["best"], indent=2)
    if style == "args":  # as SearchSpace.cli_args() passes them
        return " ".join(
            shlex.quote(f"--{name.replace('_', '-')}={value}")
            for name, value in result.parameters.items()
        )
    return _env_lines(result)


def _env_lines(result: ExperimentResult) -> str:
    """`NAME=value` lines, each value quoted for a shell; ProblemReport where a line could
    not say it (a value with a line break or control character, names that make no
    variable name or the same one)."""
    problems: list[Problem] = []
    lines: dict[str, str] = {}
    for name, value in result.parameters.items():
        variable = re.sub(r"[^A-Za-z0-9]+", "_", name).upper()
        where = f"parameter {name!r} of {result.name!r}"
        if not ENV_NAME.fullmatch(variable):
            problems.append(
                Problem("best-env", (), f"{where} makes no variable name ({variable!r})", _JSON)
            )
        elif variable in lines:
            problems.append(
                Problem("best-env", (), f"{where} and another both make {variable}", _JSON)
            )
        elif not value.isprintable():
            problems.append(
                Problem(
                    "best-env",
                    (),
                    f"{where} has a value with a line break or control character "
                    f"({value!r}), which an env line cannot carry",
                    _JSON,
                )
            )
        else:
            lines[variable] = f"{variable}={shlex.quote(value)}"
    if problems:
        raise ProblemReport(problems)
    return "\n".join(lines.values())


_JSON = "use --format json, which carries any value"
