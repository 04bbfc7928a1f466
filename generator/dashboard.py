"""`hpo-gen dashboard`: the results under `status/<env>/` in optuna-dashboard, live.

optuna-dashboard (a maintained project of Optuna's authors, on PyPI) already draws what
Katib's UI does and more: the history with the best so far, each trial's intermediate
values, parallel coordinates, slices, contours, parameter importance, a sortable and
filterable trial table. It reads an Optuna storage, so each experiment's status file
becomes a study in an in-memory storage: one study per environment and experiment
(`dev/katib-tpe`), a trial per trial with its parameters (distributions from the
experiment's spec in `overlays/<env>`), its objective by the metric's strategy, the
objective's series as intermediate values, and the rest (every metric, state, reason,
duration, log) as user attributes. Katib's states map to Optuna's: Succeeded is COMPLETE,
EarlyStopped is PRUNED (with its value), Running and Pending are RUNNING, the others FAIL.

A thread reads the status files again every few seconds: a running controller rewrites
them as trials go, and the page shows the change (new trials, running ones finishing).
A status file that is not one (cut short, a merge's conflict markers) is said once on
stderr and left out until it reads again; nothing is ever written."""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from generator.files.kustomize import KustomizeError, build
from generator.katib.identity import experiment_name
from generator.katib.models import Experiment, ParameterSpec
from generator.katib.repository import OVERLAYS_FOLDER, STATUS_FOLDER
from generator.katib.status import (
    Metric,
    StatusDocument,
    StatusError,
    TrialDocument,
    load_status_file,
    read_status,
)
from generator.problems import Problem, ProblemReport

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.storages import InMemoryStorage

INSTALL = "install it with `pip install 'hpo-gen[dashboard]'`"
STATES = {  # Katib's trial states -> Optuna's
    "Succeeded": "COMPLETE",
    "EarlyStopped": "PRUNED",
    "Running": "RUNNING",
    "Pending": "RUNNING",
}


def _optuna() -> Any:
    try:
        import optuna
        import optuna_dashboard  # noqa: F401 - checked here, used by serve()
    except ImportError as err:
        raise ProblemReport(
            [Problem("dashboard", (), f"the dashboard needs {err.name}", INSTALL)]
        ) from err
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class Definition:
    """What the status file does not say: the objective and the parameters' spaces."""

    metric: str
    strategy: str  # min, max or latest
    maximize: bool
    parameters: dict[str, ParameterSpec]

    @classmethod
    def of(cls, experiment: Experiment) -> Definition:
        objective = experiment.spec.objective
        if objective is None:
            raise ValueError("no objective")
        metric = objective.objective_metric_name
        strategy = next(
            (s.value for s in objective.metric_strategies or [] if s.name == metric), "latest"
        )
        parameters = {p.name: p for p in experiment.spec.parameters or []}
        return cls(metric, strategy, objective.type == "maximize", parameters)


def definitions(root: Path, environment: str) -> dict[str, Definition]:
    """The experiments of `overlays/<env>` by their own names (none where the overlay is
    not there or does not build: the results alone are not enough to show)."""
    folder = root / OVERLAYS_FOLDER / environment
    if not (folder / "kustomization.yaml").is_file():
        return {}
    try:
        documents = build(folder)
    except KustomizeError:
        return {}
    found = {}
    for document in documents:
        if document.get("kind") != "Experiment":
            continue
        try:
            experiment = Experiment.model_validate(document)
            definition = Definition.of(experiment)
        except ValueError:
            continue
        found[experiment_name(experiment.metadata.labels, experiment.name)] = definition
    return found


def _number(metric: Metric, strategy: str) -> float | None:
    value = {"min": metric.min, "max": metric.max}.get(strategy, metric.latest)
    if isinstance(value, str):
        return None
    return value if math.isfinite(value) else None


def distribution(parameter: ParameterSpec | None, value: str) -> tuple[Any, BaseDistribution]:
    """The parameter's value and Optuna distribution: a float or int range (log where its
    distribution is), categories otherwise; a value outside its space (a status file is
    input like any other) becomes a category of its own."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if parameter is not None:
        space = parameter.feasible_space
        log = space.distribution in ("logUniform", "logNormal")
        try:
            if parameter.parameter_type == "double" and space.min and space.max:
                low, high, number = float(space.min), float(space.max), float(value)
                if low <= number <= high and low < high and (low > 0 or not log):
                    return number, FloatDistribution(low, high, log=log)
            if parameter.parameter_type == "int" and space.min and space.max:
                low_i, high_i, whole = int(space.min), int(space.max), int(value)
                if low_i <= whole <= high_i and low_i < high_i and (low_i > 0 or not log):
                    return whole, IntDistribution(low_i, high_i, log=log)
        except ValueError:
            pass
        choices = list(space.list_ or [])
        if value in choices:
            return value, CategoricalDistribution(choices)
    return value, CategoricalDistribution([value])


def frozen_trial(definition: Definition, trial: TrialDocument, number: int) -> Any:
    """The trial as Optuna's FrozenTrial."""
    optuna = _optuna()
    states = optuna.trial.TrialState
    state = getattr(states, STATES.get(trial.state, "FAIL"))
    params, distributions = {}, {}
    for assignment in trial.parameter_assignments:
        value, space = distribution(definition.parameters.get(assignment.name), assignment.value)
        params[assignment.name], distributions[assignment.name] = value, space
    objective = next((m for m in trial.metrics if m.name == definition.metric), None)
    value = _number(objective, definition.strategy) if objective is not None else None
    if value is None and state == states.COMPLETE:
        state = states.FAIL  # succeeded, yet no number to show
    series = (objective.values or []) if objective is not None else []
    intermediate = {step: v for step, v in enumerate(series, 1) if math.isfinite(v)}
    attributes: dict[str, Any] = {
        "trial": trial.name,
        "katib_state": trial.state,
        "reason": trial.reason,
    }
    if trial.message:
        attributes["message"] = trial.message
    if trial.log:
        attributes["log"] = trial.log
    for metric in trial.metrics:
        shown = metric.latest if isinstance(metric.latest, str) else f"{metric.latest:g}"
        attributes[f"metric {metric.name}"] = shown
    started = _time(trial.start_time) or datetime.now(UTC)  # Optuna needs a start
    return optuna.trial.FrozenTrial(
        number=number,
        state=state,
        value=value if state in (states.COMPLETE, states.PRUNED) else None,
        values=None,
        datetime_start=started,
        datetime_complete=None
        if state == states.RUNNING
        else (_time(trial.completion_time) or started),
        params=params,
        distributions=distributions,
        user_attrs=attributes,
        system_attrs={},
        intermediate_values=intermediate,
        trial_id=number,
    )


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class Shown:
    """A study the dashboard shows, and what it was built from."""

    study_id: int
    stamp: tuple[int, int]  # the status file's mtime and size when read
    trials: list[str] = field(default_factory=list)  # names, in order
    running: dict[str, int] = field(default_factory=dict)  # trial name -> Optuna trial id
    finished: set[str] = field(default_factory=set)


class Studies:
    """Status files -> studies in one in-memory storage, kept in step with the files."""

    def __init__(
        self, root: Path, environment: str | None, say: Callable[[str], None] = print
    ) -> None:
        optuna = _optuna()
        self.root, self.environment, self.say = root, environment, say
        self.storage: InMemoryStorage = optuna.storages.InMemoryStorage()
        self.shown: dict[str, Shown] = {}
        self.definitions: dict[str, dict[str, Definition]] = {}
        self.complaints: set[str] = set()

    def environments(self) -> list[str]:
        folder = self.root / STATUS_FOLDER
        found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        return [e for e in found if self.environment in (None, e)]

    def refresh(self) -> None:
        """Read every status file again; studies follow what changed."""
        for environment in self.environments():
            for path in sorted((self.root / STATUS_FOLDER / environment).glob("*.yaml")):
                self._refresh(environment, path)

    def _definition(self, environment: str, name: str) -> Definition | None:
        known = self.definitions.get(environment)
        if known is None or name not in known:
            known = self.definitions[environment] = definitions(self.root, environment)
        return known.get(name)

    def _complain(self, key: str, text: str) -> None:
        if key not in self.complaints:
            self.complaints.add(key)
            self.say(text)

    def _refresh(self, environment: str, path: Path) -> None:
        shown_path = f"{STATUS_FOLDER}/{environment}/{path.name}"
        try:
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            key = f"{environment}/{path.stem}"
            if key in self.shown and self.shown[key].stamp == stamp:
                return
            document = read_status(load_status_file(path))
        except (OSError, StatusError) as err:
            self._complain(shown_path, f"hpo-gen dashboard: {shown_path} left out: {err}")
            return
        self.complaints.discard(shown_path)
        definition = self._definition(environment, document.experiment)
        if definition is None:
            self._complain(
                shown_path,
                f"hpo-gen dashboard: {shown_path} left out: {document.experiment!r} is not "
                f"in {OVERLAYS_FOLDER}/{environment} (run `hpo-gen render`)",
            )
            return
        self._sync(f"{environment}/{document.experiment}", stamp, definition, document)

    def _sync(
        self, key: str, stamp: tuple[int, int], definition: Definition, document: StatusDocument
    ) -> None:
        optuna = _optuna()
        storage = self.storage
        names = [t.name for t in document.trials]
        shown = self.shown.get(key)
        if shown is not None and names[: len(shown.trials)] != shown.trials:
            storage.delete_study(shown.study_id)  # a rerun: other trials, start again
            shown = None
        if shown is None:
            direction = (
                optuna.study.StudyDirection.MAXIMIZE
                if definition.maximize
                else optuna.study.StudyDirection.MINIMIZE
            )
            study_id = storage.create_new_study([direction], key)
            storage.set_study_user_attr(study_id, "objective", definition.metric)
            shown = self.shown[key] = Shown(study_id, stamp)
        shown.stamp = stamp
        for number, trial in enumerate(document.trials):
            frozen = frozen_trial(definition, trial, number)
            if trial.name not in shown.trials:
                trial_id = storage.create_new_trial(shown.study_id, template_trial=frozen)
                shown.trials.append(trial.name)
                if frozen.state == optuna.trial.TrialState.RUNNING:
                    shown.running[trial.name] = trial_id
                continue
            running = shown.running.get(trial.name)
            if running is None:
                continue  # finished when first shown: it does not change
            known = storage.get_trial(running).intermediate_values
            for step, value in frozen.intermediate_values.items():
                if known.get(step) != value:
                    storage.set_trial_intermediate_value(running, step, value)
            if frozen.state != optuna.trial.TrialState.RUNNING:
                for name, attribute in frozen.user_attrs.items():
                    storage.set_trial_user_attr(running, name, attribute)
                values = None if frozen.value is None else [frozen.value]
                storage.set_trial_state_values(running, frozen.state, values)
                del shown.running[trial.name]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(
    root: Path,
    environment: str | None,
    host: str,
    port: int,
    refresh: float,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the dashboard until interrupted; the first line said is its address."""
    studies = Studies(root, environment, lambda text: print(text, file=sys.stderr))
    studies.refresh()
    if not studies.shown:
        where = f"{STATUS_FOLDER}/{environment}/" if environment else f"{STATUS_FOLDER}/"
        raise ProblemReport(
            [
                Problem(
                    "dashboard",
                    (),
                    f"no results in {where} to show",
                    "run the experiments first: `hpo-controller run --env ENV`",
                )
            ]
        )
    from optuna_dashboard import wsgi

    try:
        server = make_server(host, port, wsgi(studies.storage), _Server, _Quiet)
    except OSError as err:
        raise ProblemReport(
            [
                Problem(
                    "dashboard",
                    (),
                    f"cannot listen on {host}:{port}: {err.strerror or err}",
                    "choose another --port (0: any free one) or --host",
                )
            ]
        ) from err
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(refresh):
            studies.refresh()

    threading.Thread(target=follow, name="status-files", daemon=True).start()
    say(f"hpo-gen dashboard: http://{host}:{server.server_port}/dashboard")
    say(f"  {len(studies.shown)} experiments: {', '.join(sorted(studies.shown))}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
