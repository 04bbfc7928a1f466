"""Reading a rendered environment: `kubectl kustomize overlays/<env>` and the Experiments
and controller settings in its output."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from controller.errors import ControllerError
from controller.ports import RESULTS_MODES, EnvironmentSpec, ResultsTarget
from generator.files import kustomize
from generator.katib.identity import experiment_name
from generator.katib.models import Experiment
from generator.problems import format_problems
from generator.rendering import CONTROLLER_CONFIG
from generator.validation.admission import validate_experiment
from generator.validation.context import Context


class OverlaySource:
    """The ExperimentSource of a repository's rendered overlays: `overlays/<env>/`."""

    def __init__(self, overlays: Path):
        self.overlays = overlays

    def read(self, environment: str) -> EnvironmentSpec:
        return read_overlay(self.overlays / environment, environment)


def build(overlay_dir: Path) -> list[dict[str, object]]:
    """The documents `kubectl kustomize` builds from `overlay_dir`."""
    if not (overlay_dir / "kustomization.yaml").is_file():
        raise ControllerError(
            f"{overlay_dir} has no kustomization.yaml: run `hpo-gen render` first, "
            "or check the --env name"
        )
    try:
        return kustomize.build(overlay_dir)
    except kustomize.KustomizeError as err:
        raise ControllerError(str(err)) from err


def read_overlay(overlay_dir: Path, environment: str) -> EnvironmentSpec:
    """The Experiments of one environment, validated again as the controller runs them."""
    documents = build(overlay_dir)
    context = Context().with_documents(documents)
    experiments = []
    # An overlay without hpo-controller's settings is for a cluster that runs Katib.
    executor, warm_starts, results = "katib", True, ResultsTarget()
    for doc in documents:
        kind, metadata = doc.get("kind"), doc.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if kind == "ConfigMap" and name == CONTROLLER_CONFIG:
            data = doc.get("data")
            if isinstance(data, dict):
                executor = str(data.get("executor", executor))
                warm_starts = str(data.get("warmStarts", "true")).lower() == "true"
                results = _results(data, overlay_dir)
        elif kind == "Experiment":
            experiments.append(_experiment(doc, overlay_dir, context))
    namespaces = {e.metadata.namespace for e in experiments}
    namespace = namespaces.pop() if len(namespaces) == 1 else None
    config_maps = {key: dict(data) for key, data in context.config_maps.items()}
    return EnvironmentSpec(
        environment, namespace, executor, warm_starts, experiments, config_maps, results
    )


def _results(data: dict[object, object], overlay_dir: Path) -> ResultsTarget:
    """Where the environment's results go, from hpo-controller's ConfigMap."""
    mode = str(data.get("results", "branch"))
    if mode not in RESULTS_MODES:
        raise ControllerError(
            f"{overlay_dir}: the {CONTROLLER_CONFIG} ConfigMap's results is {mode!r}, not one "
            f"of {', '.join(RESULTS_MODES)}: run `hpo-gen render`"
        )
    try:
        interval = float(str(data.get("commitInterval", "60")))
    except ValueError:
        interval = -1.0
    if not 1 <= interval <= 86400:
        raise ControllerError(
            f"{overlay_dir}: the {CONTROLLER_CONFIG} ConfigMap's commitInterval is "
            f"{data.get('commitInterval')!r}, not a number of seconds from 1 to 86400"
        )
    branch = data.get("statusBranch")
    remote = data.get("push")
    author = data.get("commitAuthor")
    message = data.get("commitMessage")
    trailers = []
    for line in str(data.get("commitTrailers") or "").splitlines():
        key, colon, value = line.partition(": ")
        if not colon or not key or not value:
            raise ControllerError(
                f"{overlay_dir}: the {CONTROLLER_CONFIG} ConfigMap's commitTrailers holds "
                f"{line!r}, not 'Key: value': run `hpo-gen render`"
            )
        trailers.append((key, value))
    protected = tuple(
        line.strip() for line in str(data.get("protectedBranches") or "").splitlines() if line
    )
    return ResultsTarget(
        mode,
        str(branch) if branch else None,
        str(remote) if remote else None,
        interval,
        str(author) if author else None,
        str(message) if message else None,
        tuple(trailers),
        protected,
    )


def _experiment(doc: dict[str, object], overlay_dir: Path, context: Context) -> Experiment:
    try:
        experiment = Experiment.model_validate(doc)
    except ValidationError as err:
        raise ControllerError(f"{overlay_dir}: an Experiment does not parse: {err}") from err
    # The object's name carries its spec's hash; the controller knows it by its own name
    # (status files, workspaces, --experiment), which its label keeps.
    own = experiment_name(experiment.metadata.labels, experiment.name)
    experiment = experiment.model_copy(
        update={"metadata": experiment.metadata.model_copy(update={"name": own})}
    )
    checked, problems = validate_experiment(experiment, context)
    if problems:
        raise ControllerError(f"{overlay_dir}: {format_problems(problems)}")
    return checked
