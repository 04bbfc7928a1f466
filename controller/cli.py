"""The `hpo-controller` command line. `run --env ENV` builds `overlays/ENV` with kustomize,
runs each Experiment in it on this machine, and commits each one's results to git under
`status/ENV/`. Exit codes: 0 every experiment succeeded, 1 one did not, 2 usage or
internal error."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from controller.algorithms.base import quiet_optuna
from controller.console.progress import configure_logging
from controller.core.records import ExperimentRecord
from controller.core.results import summary_files
from controller.core.status import resume_point
from controller.engine.journal import TrialJournal
from controller.engine.loop import run_experiment, summary_line, utc_now
from controller.errors import ControllerError
from controller.executors.local.executor import LocalExecutor
from controller.executors.local.warmstart import WarmPool
from controller.service import runlock
from controller.service.layout import Layout
from controller.sinks.git.repo import GitRepo
from controller.sinks.git.sink import GitStatusSink, corrupt_status
from controller.sources.overlay import Overlay, read_overlay
from generator.files.escaping import one_line
from generator.katib.models import Experiment
from generator.katib.status import StatusError

if TYPE_CHECKING:
    from controller.console.live import LiveDisplay

COMMIT_INTERVAL = 5.0  # seconds between progress commits of a running experiment


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpo-gen")
def main() -> None:
    """Runs hpo-gen's rendered Katib experiments and commits their results to git."""


@main.command()
@click.option("--env", "environment", required=True, help="The overlay to run: overlays/ENV.")
@click.option("--experiment", "only", multiple=True, help="Run only this experiment (repeatable).")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="A directory inside the git repository that holds overlays/.",
)
@click.option("--rerun", is_flag=True, help="Run experiments whose results are already final.")
@click.option(
    "--warm/--cold",
    default=None,
    help="Fork `python -m` trials from a warm interpreter (default: the environment's setting).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr as text or as JSON objects.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def run(
    environment: str,
    only: tuple[str, ...],
    project: Path,
    rerun: bool,
    warm: bool | None,
    log_format: str,
    debug: bool,
) -> None:
    """Run every Experiment of an environment to completion on this machine. On a terminal
    a live display shows a bar per experiment; elsewhere each trial is a log line."""
    live = log_format == "text" and sys.stderr.isatty()
    configure_logging(log_format, quiet=live)
    quiet_optuna()
    try:
        if live:
            from controller.console.live import LiveDisplay  # rich: loaded only for a terminal

            with LiveDisplay() as display:
                ok = _run(environment, only, project, rerun, warm, display)
        else:
            ok = _run(environment, only, project, rerun, warm, None)
    except ControllerError as err:
        click.echo(f"hpo-controller: {err}", err=True)
        sys.exit(1)
    except Exception as err:
        if debug:
            raise
        click.echo(f"hpo-controller: internal error: {type(err).__name__}: {err}", err=True)
        sys.exit(2)
    _leave(0 if ok else 1)


def _leave(code: int) -> NoReturn:
    """End a finished run without tearing the interpreter down. By now every trial has
    been stopped, the warm pool and the watchdog closed, the files written and renamed
    into place and the commits made; what is left is unloading optuna, numpy and pydantic,
    which takes longer than a trivial trial runs. Output is flushed first."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a closed pipe: nobody is reading
            stream.flush()
    os._exit(code)


def _run(
    environment: str,
    only: tuple[str, ...],
    project: Path,
    rerun: bool,
    warm: bool | None,
    display: LiveDisplay | None,
) -> bool:
    repo = GitRepo.at(project)
    layout = Layout.of(repo.root, environment)
    layout.prepare()
    with runlock.holding(layout.lock, environment):
        repo.check_ready()
        overlay = read_overlay(layout.overlay, environment)
        if overlay.executor != "local":
            raise ControllerError(
                f"environment {environment!r} runs its trials on Kubernetes (executor "
                f"{overlay.executor!r}); this hpo-controller runs local environments only"
            )
        chosen = [e for e in overlay.experiments if not only or e.name in only]
        missing = sorted(set(only) - {e.name for e in overlay.experiments})
        if missing:
            raise ControllerError(
                f"no experiment named {', '.join(missing)} in overlays/{environment}"
            )
        sink = GitStatusSink(repo, environment)
        use_warm = overlay.warm_starts if warm is None else warm
        pool = WarmPool(log=layout.zygote_log) if use_warm else None
        try:
            return _run_all(chosen, layout, sink, pool, overlay, rerun, display)
        finally:
            if pool is not None:
                pool.close()


def _run_all(
    chosen: list[Experiment],
    layout: Layout,
    sink: GitStatusSink,
    pool: WarmPool | None,
    overlay: Overlay,
    rerun: bool,
    display: LiveDisplay | None,
) -> bool:
    all_ok = True
    environment = layout.environment
    for experiment in chosen:
        document = None if rerun else sink.read(experiment.name)
        try:
            start = resume_point(experiment, document, rerun)
        except StatusError as err:
            raise corrupt_status(sink.relative_path(experiment.name), str(err)) from err
        if start.finished is not None:
            click.echo(f"{experiment.name}: already complete for this spec (use --rerun)")
            all_ok &= start.finished.condition == "Succeeded"
            continue
        if start.restarting:
            click.echo(f"{experiment.name}: restarting for its raised budget")
        journal = TrialJournal(layout.journal(experiment.name), utc_now)
        executor = LocalExecutor(
            sink.repo.root, layout.logs(experiment.name), warm=pool, on_exit=journal.exited
        )
        checkpoint = _Checkpoints(sink, experiment, environment, overlay.namespace)
        try:
            record = run_experiment(
                experiment,
                environment=environment,
                executor=executor,
                sink=sink,
                config_maps=overlay.config_maps,
                previous=start.previous,
                checkpoint=checkpoint,
                on_change=partial(display.update, experiment) if display else None,
                volume=layout.volume(experiment.name),
                journal=journal,
            )
        finally:
            executor.shutdown()
            journal.close()
        sink.write(experiment.name, summary_files(experiment, record, environment))
        commit = sink.commit(
            experiment.name, commit_message(experiment, record, environment, overlay.namespace)
        )
        click.echo(one_line(summary_line(experiment, record)))
        click.echo(
            f"  results: {sink.relative_path(experiment.name)}"
            + (f" (commit {commit[:10]})" if commit else " (unchanged)")
        )
        all_ok &= record.completion is not None and record.completion.condition == "Succeeded"
    return all_ok


class _Checkpoints:
    """Commits the status as a run goes, at most once every COMMIT_INTERVAL seconds, so
    that what a killed controller had finished is in git."""

    def __init__(
        self, sink: GitStatusSink, experiment: Experiment, environment: str, namespace: str | None
    ):
        self.sink, self.experiment = sink, experiment
        self.environment, self.namespace = environment, namespace
        self.last = time.monotonic()

    def __call__(self, record: ExperimentRecord) -> None:
        now = time.monotonic()
        if now - self.last < COMMIT_INTERVAL or record.completion_time:
            return
        self.last = now
        self.sink.write(
            self.experiment.name, summary_files(self.experiment, record, self.environment)
        )
        message = commit_message(self.experiment, record, self.environment, self.namespace)
        self.sink.commit(self.experiment.name, message)


def commit_message(
    experiment: Experiment, record: ExperimentRecord, environment: str, namespace: str | None
) -> str:
    """Subject: how the experiment stands and its best result; trailers name it. Results
    are data, not code: `[skip ci]` keeps them from triggering pipelines."""
    counts: dict[str, int] = {}
    for trial in record.trials:
        counts[trial.state.value] = counts.get(trial.state.value, 0) + 1
    tally = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
    return (
        f"{summary_line(experiment, record)} [skip ci]\n\n"
        f"{len(record.trials)} trials: {tally}.\n\n"
        f"Experiment: {namespace or 'default'}/{experiment.name}\n"
        f"Environment: {environment}\n"
    )
