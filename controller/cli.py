"""The `hpo-controller` command line. `run --env ENV` builds `overlays/ENV` with kustomize,
runs each Experiment in it on this machine, and commits each one's results to git under
`status/ENV/`. Exit codes: 0 every experiment succeeded, 1 one did not, 2 usage or
internal error."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from functools import partial
from pathlib import Path
from typing import NoReturn

import click

from controller.algorithms.optuna_backed import quiet_optuna
from controller.console.progress import configure_logging
from controller.errors import ControllerError
from controller.service.run import Interrupted, RunRequest, run_environment


def examples(*commands: str) -> str:
    """A command's --help epilog: example command lines, kept as written."""
    return "\b\nExamples:\n" + "\n".join(f"  $ {command}" for command in commands)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpo-gen")
def main() -> None:
    """Runs hpo-gen's rendered Katib experiments and commits their results to git."""


@main.command(
    epilog=examples(
        "hpo-controller run --env dev",
        "hpo-controller run --env dev --experiment katib-tpe --rerun",
        "hpo-controller run --env ci --cold --log-format json",
        "hpo-controller run --env dev --project path/to/repo",
        "hpo-controller run --env dev --results status-branch --push origin",
        "hpo-controller run --env dev --no-commit",
    )
)
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
@click.option(
    "--results",
    type=click.Choice(["branch", "status-branch", "none"]),
    default=None,
    help="Where results are committed: the branch checked out, a status branch of their own "
    "(hpo-status/ENV unless --status-branch names one), or nowhere (default: the "
    "environment's setting).",
)
@click.option("--no-commit", is_flag=True, help="Write the result files, commit nothing.")
@click.option("--status-branch", help="The status branch's name (with --results status-branch).")
@click.option("--push", metavar="REMOTE", help="Push the status branch to this remote.")
@click.option("--no-push", is_flag=True, help="Push nothing, whatever the environment says.")
@click.option(
    "--commit-interval",
    type=click.FloatRange(1, 86400),
    default=None,
    help="Seconds between an experiment's progress commits (default: the environment's, 60).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def run(
    environment: str,
    only: tuple[str, ...],
    project: Path,
    rerun: bool,
    warm: bool | None,
    log_format: str,
    results: str | None,
    no_commit: bool,
    status_branch: str | None,
    push: str | None,
    no_push: bool,
    commit_interval: float | None,
    debug: bool,
) -> None:
    """Run every Experiment of an environment to completion on this machine. On a terminal
    a live display shows a bar per experiment; elsewhere each trial is a log line."""
    live = log_format == "text" and sys.stderr.isatty()
    configure_logging(log_format, quiet=live)
    quiet_optuna()
    try:
        if no_commit and results not in (None, "none"):
            raise click.UsageError("--no-commit and --results are two answers to one question")
        if push and no_push:
            raise click.UsageError("--push and --no-push cannot both be given")
        request = RunRequest(
            environment,
            only,
            project,
            rerun,
            warm,
            results="none" if no_commit else results,
            status_branch=status_branch,
            push="" if no_push else push,
            commit_interval=commit_interval,
        )
        if live:
            from controller.console.live import LiveDisplay  # rich: loaded only for a terminal

            with LiveDisplay() as display:
                ok = run_environment(request, _say, lambda e: partial(display.update, e))
        else:
            ok = run_environment(request, _say)
    except Interrupted as err:
        click.echo(f"hpo-controller: {err}", err=True)
        _leave(130)
    except ControllerError as err:
        click.echo(f"hpo-controller: {err}", err=True)
        sys.exit(1)
    except Exception as err:
        if debug:
            raise
        _internal(err)
    _leave(0 if ok else 1)


@main.command(
    epilog=examples(
        "hpo-controller serve",
        "hpo-controller serve --env prod --namespace hpo --kube-api http://127.0.0.1:8001",
    )
)
@click.option("--env", "environment", help="The environment (default: $HPO_ENVIRONMENT).")
@click.option("--namespace", help="The namespace to watch and lease in (default: $POD_NAMESPACE).")
@click.option(
    "--kube-api",
    metavar="URL",
    help="The API server (default: in a pod, its service account; elsewhere, the kubeconfig).",
)
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    help="Trial output and the git checkout (default: $HPO_WORK, else /work).",
)
@click.option("--probe-port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=9090, show_default=True)
@click.option(
    "--push-port",
    type=click.IntRange(0, 65535),
    default=8070,
    show_default=True,
    help="Where trials with the Push metrics collector report (reached through the Service).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr as text or as JSON objects.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def serve(
    environment: str | None,
    namespace: str | None,
    kube_api: str | None,
    work: Path | None,
    probe_port: int,
    metrics_port: int,
    push_port: int,
    log_format: str,
    debug: bool,
) -> None:
    """Run the Experiment objects of a namespace in the cluster, as Argo CD syncs them:
    trials as Kubernetes workloads, status on each object and in git, /healthz, /readyz
    and /metrics. Stops cleanly on SIGTERM, leaving the trials to the next replica."""
    import signal
    import threading

    from controller.kube.api import Kube
    from controller.service.serve import SWITCH_INTERVAL, Server, ServeSettings

    configure_logging(log_format, quiet=False)
    quiet_optuna()
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    try:
        given: dict[str, object] = {
            "probe_port": probe_port,
            "metrics_port": metrics_port,
            "push_port": push_port,
        }
        if environment:
            given["environment"] = environment
        if namespace:
            given["namespace"] = namespace
        if work is not None:
            given["work"] = work
        settings = ServeSettings.from_environment(os.environ, **given)
        sys.setswitchinterval(SWITCH_INTERVAL)
        Server(Kube.connect(kube_api), settings).serve(stop)
    except ControllerError as err:
        click.echo(f"hpo-controller: {err}", err=True)
        sys.exit(1)
    except Exception as err:
        if debug:
            raise
        _internal(err)


@main.command(
    epilog=examples(
        "hpo-controller relay --kind File --path /var/log/katib/metrics.log",
        "hpo-controller relay --kind TensorFlowEvent --path /tmp/tb --metric loss",
    )
)
@click.option(
    "--kind",
    type=click.Choice(["File", "TensorFlowEvent"]),
    required=True,
    help="The experiment's metrics collector.",
)
@click.option("--path", required=True, help="The metrics file, or the folder of event files.")
@click.option("--metric", "metrics", multiple=True, help="A metric to read from event files.")
@click.option("--ready", help="A file to make once the relay runs (for a startup probe).")
def relay(kind: str, path: str, metrics: tuple[str, ...], ready: str | None) -> None:
    """The sidecar hpo-controller adds to a trial's pod in the cluster: prints the
    trial's metrics file (or its event files' values, as JSON lines) as they are written,
    for the controller to follow. Ends on SIGTERM, after a last read."""
    from controller.metrics.relay import run as run_relay

    run_relay(kind, path, list(metrics), ready)


def _internal(err: Exception) -> NoReturn:
    """A bug: said as one, exit code 2."""
    click.echo(f"hpo-controller: internal error: {type(err).__name__}: {err}", err=True)
    click.echo(
        "this is a bug in hpo-controller: please report it with the output of the same "
        "command run with --debug",
        err=True,
    )
    sys.exit(2)


def _say(line: str) -> None:
    click.echo(line)


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
