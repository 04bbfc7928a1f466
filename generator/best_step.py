"""The best parameters of an experiment, read from the results in a git repository, for the
next step of a pipeline: what `hpo-gen best` prints, for a Kubeflow Pipelines component
(`generator.kfp_components`) or any program that has the repository's address rather than
a checkout.

The repository is fetched at one revision (the branch the results go to, such as
`hpo-status/prod`, a tag or a commit; its default branch where none is named), one
commit deep, into a folder of its own. With `wait_seconds`, a running experiment is
fetched again every `poll_seconds` until it has ended. Credentials in the address are
never repeated: an error names the repository without them."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from generator.problems import Problem, ProblemReport
from generator.results import ExperimentResult, best, format_best, read_results


@dataclass(frozen=True)
class Best:
    """An experiment's best trial in the shapes a next step takes."""

    experiment: str
    environment: str
    state: str  # Succeeded, Failed, or Running when not waited for
    trial: str
    objective: str
    value: float
    parameters: dict[str, str]
    arguments: list[str]  # --name=value, one a parameter, as the trials took them
    env: str  # NAME=value lines, quoted for a shell

    @classmethod
    def of(cls, result: ExperimentResult) -> Best:
        assert result.best_trial is not None and result.best_value is not None
        return cls(
            experiment=result.name,
            environment=result.environment,
            state=result.state,
            trial=result.best_trial,
            objective=result.objective or "",
            value=result.best_value,
            parameters=dict(result.parameters),
            arguments=[f"--{n.replace('_', '-')}={v}" for n, v in result.parameters.items()],
            env=format_best(result, "env"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "environment": self.environment,
            "state": self.state,
            "trial": self.trial,
            "objective": {"name": self.objective, "value": self.value},
            "parameters": self.parameters,
            "arguments": self.arguments,
            "env": self.env,
        }


def shown_address(repository: str) -> str:
    """The repository's address without a user or token in it."""
    parts = urlsplit(repository)
    if parts.username is None and parts.password is None:
        return repository
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def fetch(repository: str, revision: str | None, into: Path) -> None:
    """The repository's `revision` checked out in `into` (a new folder or one fetched
    before), one commit deep; ProblemReport where git cannot."""
    into.mkdir(parents=True, exist_ok=True)
    shown = shown_address(repository)
    steps = [
        ["git", "init", "--quiet"],
        ["git", "fetch", "--quiet", "--depth=1", repository, revision or "HEAD"],
        ["git", "checkout", "--quiet", "--force", "FETCH_HEAD"],
    ]
    if (into / ".git").is_dir():
        steps = steps[1:]
    for command in steps:
        try:
            done = subprocess.run(
                command,
                cwd=into,
                capture_output=True,
                text=True,
                check=False,
                env={"GIT_TERMINAL_PROMPT": "0", "PATH": _path()},
            )
        except OSError as err:
            raise ProblemReport(
                [Problem("best-step", (), f"git cannot run: {err}", "install git in the image")]
            ) from err
        if done.returncode != 0:
            said = done.stderr.strip().replace(repository, shown)
            raise ProblemReport(
                [
                    Problem(
                        "best-step",
                        (),
                        f"cannot fetch {revision or 'the default branch'} of {shown}: {said}",
                        "check the repository's address, the revision (the branch the results "
                        "go to, such as hpo-status/<env>) and the credentials",
                    )
                ]
            )


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")


def best_from_repository(
    repository: str,
    experiment: str,
    environment: str | None = None,
    revision: str | None = None,
    wait_seconds: float = 0,
    poll_seconds: float = 30,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Best:
    """The experiment's best trial in the repository at `revision`; with `wait_seconds`,
    once the experiment has ended (fetched again every `poll_seconds`, up to that long).
    ProblemReport where there is none: no such experiment, still running after the wait,
    ended without a successful trial."""
    deadline = clock() + max(wait_seconds, 0)
    with tempfile.TemporaryDirectory(prefix="hpo-gen-best-") as folder:
        checkout = Path(folder) / "repository"
        while True:
            fetch(repository, revision, checkout)
            ending = [r for r in read_results(checkout, environment) if r.name == experiment]
            running = bool(ending) and all(r.state == "Running" for r in ending)
            if not running or wait_seconds <= 0:
                return Best.of(best(checkout, experiment, environment))
            if clock() >= deadline:
                raise ProblemReport(
                    [
                        Problem(
                            "best-step",
                            (),
                            f"{experiment!r} is still running after {wait_seconds:g} s "
                            f"({ending[0].trials} trials so far)",
                            "wait longer (wait_seconds), or take its best so far with "
                            "wait_seconds=0",
                        )
                    ]
                )
            sleep(max(min(poll_seconds, deadline - clock()), 0.0))
