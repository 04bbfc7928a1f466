"""The `hpo-gen` command line: thin commands over `generator.project.pipeline`. Results go to
stdout, problems and logs to stderr. Exit codes: 0 ok; 1 problems, drift, or paths and
files that cannot be used as given (said with what is needed); 2 a command line click
cannot parse, or an internal error (a bug, said as one)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from generator.checking import UsageProblem, check_paths, check_previous, katib_context
from generator.files import kustomize
from generator.files.escaping import one_line
from generator.importing.importer import import_files
from generator.katib.repository import SPEC_FOLDER
from generator.problems import ProblemReport, format_problems
from generator.project.diffing import DiffError, markdown, summarize
from generator.project.pipeline import Project
from generator.project.writing import diff_tree, write_tree
from generator.rendering import environment_summary
from generator.rendering import render as render_specs
from generator.results import best, format_best, no_results, read_results
from generator.validation.context import Context


def examples(*commands: str) -> str:
    """A command's --help epilog: example command lines, kept as written."""
    return "\b\nExamples:\n" + "\n".join(f"  $ {command}" for command in commands)


F = TypeVar("F", bound=Callable[..., Any])

project_option = click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The repository root, holding spec/ and overlays/.",
)
debug_option = click.option("--debug", is_flag=True, help="Show tracebacks.")


REPORT_BUG = (
    "this is a bug in hpo-gen: please report it with the output of the same command "
    "run with --debug"
)


def reporting_problems(command: F) -> F:
    """Turn ProblemReport into its text on stderr and exit 1, a path that cannot be used
    into what is needed and exit 1; anything else unexpected into a one-line internal
    error, asked to be reported, and exit 2 (the traceback with --debug)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        output = kwargs.get("output", "text")
        try:
            return command(*args, **kwargs)
        except ProblemReport as report:
            if debug:
                for text in report.tracebacks:
                    click.echo(text, err=True)
            if output == "json":
                click.echo(json.dumps([p.to_json() for p in report.problems], indent=2))
            else:
                click.echo(format_problems(report.problems), err=True)
            sys.exit(1)
        except UsageProblem as err:
            click.echo(f"hpo-gen: {err}", err=True)
            sys.exit(1)
        except click.ClickException:
            raise  # click says it its way
        except Exception as err:
            if debug:
                raise
            click.echo(f"hpo-gen: internal error: {type(err).__name__}: {err}", err=True)
            click.echo(REPORT_BUG, err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpo-gen")
def main() -> None:
    """Katib hyperparameter experiments as GitOps: specs in Python, validated, rendered
    into kustomize overlays."""


@main.command(
    epilog=examples(
        "hpo-gen render                       # spec/ -> overlays/",
        "hpo-gen render --check               # in CI: 0 fresh, 1 stale (a diff), 2 error",
        "hpo-gen render --project path/to/repo",
    )
)
@project_option
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 0 if overlays/ is fresh, 1 with a diff if stale, 2 if spec/ "
    "has problems.",
)
@debug_option
@reporting_problems
def render(project: Path, check: bool, debug: bool) -> None:
    """Render spec/ into overlays/."""
    repo = Project(project)
    try:
        specs = repo.validated_specs()
    except ProblemReport as report:
        if not check:
            raise
        # --check keeps 1 for drift: specs that cannot be rendered are exit 2, as with
        # `flux diff` (0 fresh, 1 drift, 2 error).
        click.echo(format_problems(report.problems), err=True)
        click.echo("overlays/ cannot be checked: spec/ does not render", err=True)
        sys.exit(2)
    tree = render_specs(specs)
    if check:
        diff = diff_tree(repo.overlays_dir, tree)
        if diff:
            click.echo(diff, nl=False)
            click.echo("overlays/ is stale: run `hpo-gen render` and commit the result", err=True)
            sys.exit(1)
        click.echo("overlays/ is up to date", err=True)
        return
    changed = write_tree(repo.overlays_dir, tree)
    state = "written" if changed else "already up to date"
    click.echo(f"overlays/: {len(tree)} files {state}", err=True)
    for line in environment_summary(specs):
        click.echo(line, err=True)


@main.command(
    name="import",
    epilog=examples(
        "hpo-gen import katib/random.yaml --out spec/",
        "hpo-gen import experiments/*.yaml --out spec/ --force",
    ),
)
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(SPEC_FOLDER),
    show_default=True,
    help="The spec package to write the modules into.",
)
@click.option("--force", is_flag=True, help="Replace spec modules that already exist.")
@debug_option
@reporting_problems
def import_(files: tuple[Path, ...], out: Path, force: bool, debug: bool) -> None:
    """Write a Python spec module for each Katib Experiment in the YAML FILES."""
    imported = import_files(files, out, force=force)
    for path in imported.written:
        click.echo(f"wrote {path}")
    for note in imported.notes:
        click.echo(f"note: {one_line(note)}", err=True)
    if not any(out.glob("*.py")) or not (out / "__init__.py").exists():
        click.echo(f"{out} needs an __init__.py and an environment to render", err=True)


@main.command(
    epilog=examples(
        "hpo-gen validate                     # the project's spec/",
        "hpo-gen validate spec/mnist.py       # one module and what it imports",
        "hpo-gen validate katib/*.yaml --katib-config katib-config.yaml",
        "hpo-gen validate --previous ../base --output json",
    )
)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@project_option
@click.option(
    "--katib-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check names against this katib-config (an environment that runs on Katib).",
)
@click.option(
    "--previous",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A checkout of the base revision: changes to its experiments must be ones Katib "
    "allows on a deployed Experiment.",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@debug_option
@reporting_problems
def validate(
    paths: tuple[Path, ...],
    project: Path,
    katib_config: Path | None,
    previous: Path | None,
    output: str,
    debug: bool,
) -> None:
    """Check specs without writing anything: the project's spec/, or the given Python spec
    modules, Katib YAML files and folders."""
    context = katib_context(katib_config) if katib_config else Context()
    if paths:
        checked = check_paths(paths, context)
        experiments, problems = checked.experiments, checked.problems
    else:
        experiments, problems = Project(project).validated_specs(context).experiments, []
    if previous is not None:
        problems += check_previous(experiments, previous)
    if problems:
        raise ProblemReport(problems)
    count = len(experiments)
    if output == "json":
        click.echo("[]")
    click.echo(f"{count} experiment{'s' if count != 1 else ''} valid", err=True)


@main.command(
    name="diff",
    epilog=examples(
        "hpo-gen diff --base origin/main                 # Markdown for a pull request",
        "hpo-gen diff --base origin/main --output json   # for tools",
    ),
)
@project_option
@click.option(
    "--base", "ref", required=True, help="The commit to compare with (a branch, tag or SHA)."
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@debug_option
@reporting_problems
def diff(project: Path, ref: str, output: str, debug: bool) -> None:
    """What spec/ changes against REF, per environment: experiments added, removed,
    recreated (and the field that forced it), budgets changed, and warnings."""
    repo = Project(project)
    tree = render_specs(repo.validated_specs())
    try:
        summary = summarize(project, ref, tree)
    except (DiffError, kustomize.KustomizeError) as err:
        raise UsageProblem(str(err)) from err
    if output == "json":
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        click.echo(markdown(summary), nl=False)


@main.command(
    epilog=examples(
        "hpo-gen status",
        "hpo-gen status --env dev --output json",
        "hpo-gen status --project .demo/repo   # after make demo",
    )
)
@project_option
@click.option("--env", "environment", help="Only this environment.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@debug_option
@reporting_problems
def status(project: Path, environment: str | None, output: str, debug: bool) -> None:
    """Show how each experiment stands, from the results in status/."""
    results = read_results(project, environment)
    if output == "json":
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
        return
    if not results:
        click.echo(no_results(project, environment), err=True)
        return
    for result in results:
        state = f"{result.state} ({result.reason})" if result.reason else result.state
        line = (
            f"{result.environment}/{result.name}: {state}, {result.trials} trials, "
            f"{result.succeeded} succeeded, {result.failed} failed"
        )
        if result.best_trial is not None:
            line += f"; best {result.objective}={result.best_value:g} ({result.best_trial})"
        click.echo(one_line(line))


@main.command(
    epilog=examples(
        "hpo-gen dashboard                       # every environment, http://127.0.0.1:8080",
        "hpo-gen dashboard --env dev --port 9000",
        "hpo-gen dashboard --project .demo/repo  # after make demo",
    )
)
@project_option
@click.option("--env", "environment", help="Only this environment.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="0: any free port (the first line says which).",
)
@click.option(
    "--refresh",
    type=click.FloatRange(0.2, 3600),
    default=5.0,
    show_default=True,
    help="Seconds between reads of the status files (a running controller rewrites them).",
)
@debug_option
@reporting_problems
def dashboard(
    project: Path, environment: str | None, host: str, port: int, refresh: float, debug: bool
) -> None:
    """Serve the results in status/ as an interactive dashboard (optuna-dashboard): a
    page per environment and experiment, live while a controller runs."""
    from generator.dashboard import serve

    if environment is not None:
        read_results(project, environment)  # an unknown environment: said with the known ones
    serve(project, environment, host, port, refresh, say=lambda text: click.echo(text))


@main.command(
    name="best",
    epilog=examples(
        "hpo-gen best katib-tpe                       # JSON",
        "python train.py $(hpo-gen best katib-tpe --format args)",
        "hpo-gen best katib-tpe --env prod --format env > best.env",
    ),
)
@click.argument("name")
@project_option
@click.option("--env", "environment", help="The environment, when NAME ran in several.")
@click.option(
    "--format",
    "style",
    type=click.Choice(["json", "args", "env"]),
    default="json",
    show_default=True,
    help="json for programs, args for a command line, env for `export`/a .env file.",
)
@debug_option
@reporting_problems
def best_command(
    name: str, project: Path, environment: str | None, style: str, debug: bool
) -> None:
    """Print the best parameters of experiment NAME for the next pipeline step."""
    click.echo(format_best(best(project, name, environment), style))  # type: ignore[arg-type]
