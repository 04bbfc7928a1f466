"""`hpo-controller run`, composed: which source, executor and sink an environment gets,
the lock that keeps one controller per environment, and the cadence of status commits.
Each experiment of the environment runs through the engine in turn; what it did is
said through `say`, one line at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controller.core.records import ExperimentRecord
from controller.core.results import summary_files
from controller.core.status import resume_point
from controller.engine.journal import TrialJournal
from controller.engine.loop import run_experiment, summary_line, utc_now
from controller.errors import ControllerError
from controller.executors.local.executor import LocalExecutor
from controller.executors.local.warmstart import WarmPool
from controller.layout import Layout
from controller.ports import EnvironmentSpec
from controller.service import runlock
from controller.sinks.git.repo import GitRepo
from controller.sinks.git.sink import GitStatusSink, corrupt_status
from controller.sources.overlay import OverlaySource
from generator.files.escaping import one_line
from generator.katib.models import Experiment
from generator.katib.status import StatusError

COMMIT_INTERVAL = 5.0  # seconds between progress commits of a running experiment


@dataclass(frozen=True)
class RunRequest:
    """What `hpo-controller run` was asked: the environment, the experiments (none: all),
    the folder inside the repository, whether to rerun finished experiments, and warm
    starts (None: the environment's setting)."""

    environment: str
    only: tuple[str, ...] = ()
    project: Path = Path(".")
    rerun: bool = False
    warm: bool | None = None


Watch = Callable[[Experiment], Callable[[ExperimentRecord], None]]


def run_environment(
    request: RunRequest, say: Callable[[str], None], watch: Watch | None = None
) -> bool:
    """Run every chosen experiment of the environment to its end; whether every one of
    them succeeded. `watch`: a listener per experiment for each change (a live display)."""
    environment = request.environment
    repo = GitRepo.at(request.project)
    layout = Layout.of(repo.root, environment)
    layout.prepare()
    with runlock.holding(layout.lock, environment):
        repo.check_ready()
        spec = OverlaySource(layout.overlay.parent).read(environment)
        chosen = _chosen(spec, request.only)
        sink = GitStatusSink(repo, environment)
        use_warm = spec.warm_starts if request.warm is None else request.warm
        pool = WarmPool(log=layout.zygote_log) if use_warm else None
        try:
            ok = True
            for experiment in chosen:
                ok &= _run_one(experiment, layout, sink, pool, spec, request.rerun, say, watch)
            return ok
        finally:
            if pool is not None:
                pool.close()


def _chosen(spec: EnvironmentSpec, only: tuple[str, ...]) -> list[Experiment]:
    """The experiments asked for; a ControllerError for a local-only controller asked to
    run a Kubernetes environment, or for a name the environment does not have."""
    environment = spec.environment
    if spec.executor != "local":
        raise ControllerError(
            f"environment {environment!r} runs its trials on Kubernetes (executor "
            f"{spec.executor!r}); this hpo-controller runs local environments only"
        )
    missing = sorted(set(only) - {e.name for e in spec.experiments})
    if missing:
        raise ControllerError(f"no experiment named {', '.join(missing)} in overlays/{environment}")
    return [e for e in spec.experiments if not only or e.name in only]


def _run_one(
    experiment: Experiment,
    layout: Layout,
    sink: GitStatusSink,
    pool: WarmPool | None,
    spec: EnvironmentSpec,
    rerun: bool,
    say: Callable[[str], None],
    watch: Watch | None,
) -> bool:
    """Run one experiment (or resume it, or skip it when its results are final), commit
    its results; whether it succeeded."""
    document = None if rerun else sink.read(experiment.name)
    try:
        start = resume_point(experiment, document, rerun)
    except StatusError as err:
        raise corrupt_status(sink.relative_path(experiment.name), str(err)) from err
    if start.finished is not None:
        say(f"{experiment.name}: already complete for this spec (use --rerun)")
        return start.finished.condition == "Succeeded"
    if start.restarting:
        say(f"{experiment.name}: restarting for its raised budget")
    journal = TrialJournal(layout.journal(experiment.name), utc_now)
    executor = LocalExecutor(
        sink.repo.root, layout.logs(experiment.name), warm=pool, on_exit=journal.exited
    )
    try:
        record = run_experiment(
            experiment,
            environment=layout.environment,
            executor=executor,
            sink=sink,
            config_maps=spec.config_maps,
            previous=start.previous,
            checkpoint=Checkpoints(sink, experiment, layout.environment, spec.namespace),
            on_change=watch(experiment) if watch else None,
            volume=layout.volume(experiment.name),
            journal=journal,
            hand_over=executor,
        )
    finally:
        executor.shutdown()
        journal.close()
    commit = _commit(sink, experiment, record, layout.environment, spec.namespace)
    say(one_line(summary_line(experiment, record)))
    say(
        f"  results: {sink.relative_path(experiment.name)}"
        + (f" (commit {commit[:10]})" if commit else " (unchanged)")
    )
    return record.completion is not None and record.completion.condition == "Succeeded"


def _commit(
    sink: GitStatusSink,
    experiment: Experiment,
    record: ExperimentRecord,
    environment: str,
    namespace: str | None,
) -> str | None:
    """Write the experiment's result files and commit them; the commit (None: nothing
    changed)."""
    sink.write(experiment.name, summary_files(experiment, record, environment))
    return sink.commit(experiment.name, commit_message(experiment, record, environment, namespace))


class Checkpoints:
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
        _commit(self.sink, self.experiment, record, self.environment, self.namespace)


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
