"""`hpo-controller run`, composed: which source, executor and sink an environment gets,
the lock that keeps one controller per environment, and the cadence of status commits.
Each experiment of the environment runs through the engine in turn; what it did is
said through `say`, one line at a time."""

from __future__ import annotations

import fnmatch
import logging
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from controller.core.records import ExperimentRecord, tally
from controller.core.results import summary_files
from controller.core.status import Provenance, ResumePoint, resume_point
from controller.engine.journal import TrialJournal
from controller.engine.loop import Engine, Options, summary_line, utc_now
from controller.errors import ControllerError
from controller.executors.local.executor import LocalExecutor
from controller.executors.local.warmstart import WarmPool
from controller.layout import Layout
from controller.ports import EnvironmentSpec, ResultsTarget
from controller.service import runlock
from controller.service.checkpoints import Checkpoints, engine_checkpoint
from controller.sinks.git.repo import GitRepo
from controller.sinks.git.sink import GitStatusSink, corrupt_status
from controller.sources.overlay import OverlaySource
from generator.files.escaping import one_line
from generator.katib.models import Experiment
from generator.katib.repository import OVERLAYS_FOLDER, SPEC_FOLDER
from generator.katib.status import StatusError
from generator.language.environments import DEFAULT_COMMIT_MESSAGE, default_status_branch

log = logging.getLogger("hpo-controller")


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
    # Where results go, over the environment's settings (None: as the environment says).
    results: str | None = None
    status_branch: str | None = None
    push: str | None = None  # "" for no push
    commit_interval: float | None = None

    def target(self, settings: ResultsTarget) -> ResultsTarget:
        """The environment's results settings with what the command line said over them."""
        mode = self.results or settings.mode
        return replace(
            settings,
            mode=mode,
            branch=self.status_branch or settings.branch,
            remote=(self.push or None) if self.push is not None else settings.remote,
            interval=self.commit_interval or settings.interval,
        )


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
        check_rendered(repo.root)
        spec = OverlaySource(layout.overlay.parent).read(environment)
        chosen = _chosen(spec, request.only)
        target = request.target(spec.results)
        if request.results is None and target.mode == "branch" and target.protected:
            target = _unless_protected(repo, target, environment, say)
        if target.remote is not None and target.mode != "status-branch":
            raise ControllerError(
                "results are pushed only from a status branch (pushing the branch checked "
                "out would push your own commits with them): add --results status-branch, "
                "or --no-push"
            )
        if target.mode == "branch":
            repo.check_ready()  # commits onto the branch checked out
        sink = GitStatusSink(repo, environment, target, say)
        commit, dirty = repo.state_of([SPEC_FOLDER, f"{OVERLAYS_FOLDER}/{environment}"])
        provenance = Provenance(commit, dirty)
        use_warm = spec.warm_starts if request.warm is None else request.warm
        pool = WarmPool(log=layout.zygote_log) if use_warm else None
        stops = StopSignals()
        try:
            sink.start()
            ok = True
            for experiment in chosen:
                run = _Run(experiment, layout, sink, pool, spec, say, watch, stops, provenance)
                ok &= run.once(request.rerun)
            return ok
        finally:
            stops.restore()
            sink.close()
            if pool is not None:
                pool.close()


def _unless_protected(
    repo: GitRepo, target: ResultsTarget, environment: str, say: Callable[[str], None]
) -> ResultsTarget:
    """The status branch instead of the branch checked out, where that branch is one of
    the environment's protected_branches."""
    branch = repo.current_branch()
    if branch is None or not any(fnmatch.fnmatchcase(branch, p) for p in target.protected):
        return target
    moved = replace(target, mode="status-branch")
    shown = target.branch or default_status_branch(environment)
    say(
        f"{branch} is a protected branch of environment {environment!r}: its results are "
        f"committed to {shown} instead (--results branch commits them onto {branch})"
    )
    return moved


class Interrupted(Exception):
    """A run stopped by SIGINT or SIGTERM: what was kept, and how to resume (the message)."""


class StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM ask the running engine to stop: its trials are stopped,
    its status written and committed, and the run can resume where it was. A second
    signal ends the controller at once (its watchdog kills the trials; the journal and
    the status keep what had finished)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.received: str | None = None
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)

    def _handle(self, number: int, frame: object) -> None:
        if self.received is not None:  # the second: now
            self.restore()
            signal.raise_signal(number)
            return
        self.received = signal.Signals(number).name
        if self.engine is not None:
            self.engine.request_stop()

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}


def check_rendered(root: Path) -> None:
    """Refuse to run overlays older than the spec they were rendered from: `hpo-gen render
    --check` (in a process of its own: spec modules are the user's code) where the
    repository has a spec package."""
    if not (root / SPEC_FOLDER / "__init__.py").is_file():
        return  # overlays alone (a deployment's checkout): nothing to compare them with
    beside = Path(sys.executable).parent / "hpo-gen"
    program = str(beside) if beside.is_file() else shutil.which("hpo-gen")
    if program is None:
        raise ControllerError("hpo-gen not found: install hpo-gen with its dependencies")
    result = subprocess.run(
        [program, "render", "--check", "--project", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return
    said = result.stderr.strip()
    if result.returncode == 1 and "is stale" in said:
        raise ControllerError(
            f"{OVERLAYS_FOLDER}/ is older than {SPEC_FOLDER}/ (a spec changed since `hpo-gen "
            f"render`): run `hpo-gen render`, commit {OVERLAYS_FOLDER}/, and run again"
        )
    raise ControllerError(
        f"{SPEC_FOLDER}/ cannot be rendered, so {OVERLAYS_FOLDER}/ cannot be checked "
        f"against it; `hpo-gen validate` says why:\n{said}"
    )


def _chosen(spec: EnvironmentSpec, only: tuple[str, ...]) -> list[Experiment]:
    """The experiments asked for; a ControllerError for a local-only controller asked to
    run a Kubernetes environment, or for a name the environment does not have."""
    environment = spec.environment
    if spec.executor != "local":
        where = (
            "by hpo-controller's Deployment in the cluster"
            if spec.executor == "cluster"
            else "by Katib in the cluster"
        )
        raise ControllerError(
            f"environment {environment!r} (executor {spec.executor!r}) runs {where}, as Argo "
            f"CD syncs overlays/{environment}; `hpo-controller run` runs local environments "
            "(executor='local')"
        )
    missing = sorted(set(only) - {e.name for e in spec.experiments})
    if missing:
        raise ControllerError(f"no experiment named {', '.join(missing)} in overlays/{environment}")
    return [e for e in spec.experiments if not only or e.name in only]


@dataclass
class _Run:
    """One experiment of the environment: run (or resumed, or skipped when its results are
    final), its results committed."""

    experiment: Experiment
    layout: Layout
    sink: GitStatusSink
    pool: WarmPool | None
    spec: EnvironmentSpec
    say: Callable[[str], None]
    watch: Watch | None
    stops: StopSignals
    provenance: Provenance

    def once(self, rerun: bool) -> bool:
        """Whether it succeeded."""
        experiment, sink, layout = self.experiment, self.sink, self.layout
        document = None if rerun else sink.read(experiment.name)
        try:
            start = resume_point(experiment, document, rerun)
        except StatusError as err:
            raise corrupt_status(sink.relative_path(experiment.name), str(err)) from err
        if start.finished is not None:
            self.say(_finished(experiment, start, layout.environment))
            return start.finished.condition == "Succeeded"
        if start.restarting:
            self.say(f"{experiment.name}: restarting for its raised budget")
        record = self.engine_run(start)
        commit = _commit(sink, experiment, record, layout.environment, self.spec.namespace)
        shown = str(sink.relative_path(experiment.name))
        kept = f" (commit {commit[:10]})" if commit else " (unchanged)"
        if self.stops.received is not None and record.completion is None:
            raise Interrupted(_interrupted(self.stops.received, record, shown + kept, layout))
        self.say(one_line(summary_line(experiment, record)))
        self.say(f"  results: {shown}{kept}")
        return record.completion is not None and record.completion.condition == "Succeeded"

    def engine_run(self, start: ResumePoint) -> ExperimentRecord:
        """The experiment through the engine, with the local executor; stopped by a
        signal, the record as it stood."""
        experiment, layout, sink = self.experiment, self.layout, self.sink
        journal = TrialJournal(layout.journal(experiment.name), utc_now)
        executor = LocalExecutor(
            sink.repo.root, layout.logs(experiment.name), warm=self.pool, on_exit=journal.exited
        )

        def commit(batch: dict[str, tuple[Experiment, ExperimentRecord]]) -> None:
            for _, record in batch.values():  # this one experiment's
                _commit(sink, experiment, record, layout.environment, self.spec.namespace)

        checkpoints: Checkpoints[tuple[Experiment, ExperimentRecord]]
        checkpoints = Checkpoints(sink.target.interval, commit)
        options = Options(
            config_maps=self.spec.config_maps,
            previous=start.previous,
            checkpoint=engine_checkpoint(checkpoints, experiment),
            on_change=self.watch(experiment) if self.watch else None,
            volume=layout.volume(experiment.name),
            journal=journal,
            hand_over=executor,
            provenance=self.provenance,
        )
        try:
            engine = Engine(experiment, layout.environment, executor, sink, options)
            self.stops.engine = engine
            if self.stops.received is not None:
                engine.request_stop()  # it came while the run was being set up
            return engine.run()
        finally:
            self.stops.engine = None
            executor.shutdown()
            checkpoints.close()
            journal.close()


def _interrupted(signal_name: str, record: ExperimentRecord, shown: str, layout: Layout) -> str:
    """What a signal's stop kept and how to resume."""
    running = sum(t.state.is_active for t in record.trials)
    finished = len(record.trials) - running
    return (
        f"stopped by {signal_name}: {record.name} keeps {finished} finished trials in "
        f"{shown}; the {running} that were running run again when it resumes: "
        f"`hpo-controller run --env {layout.environment}`"
    )


def _finished(experiment: Experiment, start: ResumePoint, environment: str) -> str:
    """What to say of an experiment whose results for this spec are final: how it ended,
    and how to run it again."""
    done = start.finished
    assert done is not None
    name = experiment.name
    again = f"`hpo-controller run --env {environment} --experiment {name} --rerun`"
    if start.held_by_policy:
        policy = experiment.spec.resume_policy or "Never"
        return (
            f"{name}: ended ({done.reason}) after {start.trials} trials; its maxTrialCount "
            f"is now {experiment.spec.max_trial_count}, but resumePolicy {policy} keeps a "
            "finished experiment finished, as Katib does. To continue it, set "
            "resume_policy='LongRunning' (or 'FromVolume') in its spec, run `hpo-gen "
            f"render` and run again; to start it afresh, {again}"
        )
    if done.condition == "Failed":
        return (
            f"{name}: already ended for this spec: Failed ({done.reason}: {done.message}); "
            f"fix what failed (its trials' logs are in status/{environment}/{name}.md), "
            f"then {again}"
        )
    return f"{name}: already complete for this spec ({done.reason}); to run it afresh, {again}"


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
    message = commit_message(experiment, record, environment, namespace, sink.target)
    return sink.commit(experiment.name, message)


def commit_message(
    experiment: Experiment,
    record: ExperimentRecord,
    environment: str,
    namespace: str | None,
    target: ResultsTarget | None = None,
) -> str:
    """The environment's message template (by default: how the experiment stands and its
    best result, `[skip ci]`, as results are data, not code), then the trailers that name
    the experiment and the environment's own. A template's {field}s are replaced as text:
    nothing in it is evaluated."""
    return round_message([(experiment, record)], environment, namespace, target)


def round_message(
    parts: list[tuple[Experiment, ExperimentRecord]],
    environment: str,
    namespace: str | None,
    target: ResultsTarget | None = None,
) -> str:
    """The message of one commit of several experiments' results: for one, its own (see
    `commit_message`); for more, a line that counts them (`[skip ci]` where each one's
    message has it), then each one's message, then an `Experiment:` trailer for each and
    the environment's own."""
    shown = namespace or "default"
    template = (target.message if target else None) or DEFAULT_COMMIT_MESSAGE

    def body_of(experiment: Experiment, record: ExperimentRecord) -> str:
        counts = tally(record.trials)
        fields = {
            "summary": summary_line(experiment, record),
            "experiment": experiment.name,
            "namespace": shown,
            "environment": environment,
            "trials": str(len(record.trials)),
            "tally": ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items())),
        }
        return _FIELD.sub(lambda m: fields.get(m.group(1), m.group(0)), template)

    bodies = [body_of(experiment, record) for experiment, record in parts]
    body = bodies[0].rstrip("\n")
    if len(bodies) > 1:
        skip = " [skip ci]" if all("[skip ci]" in b for b in bodies) else ""
        body = f"status/{environment}: {len(bodies)} experiments{skip}\n\n" + "\n\n".join(
            b.strip("\n") for b in bodies
        )
    trailers = [
        *(("Experiment", f"{shown}/{experiment.name}") for experiment, _ in parts),
        ("Environment", environment),
        *(target.trailers if target else ()),
    ]
    return body + "\n\n" + "".join(f"{key}: {value}\n" for key, value in trailers)


_FIELD = re.compile(r"\{(\w+)\}")
