"""`hpo-controller serve`, composed: the controller in the cluster. It leads through a
Lease (one replica drives the experiments; the others stand by), watches the Experiment
objects of its namespace, and runs each one through the same engine as `run`, with trials
as Kubernetes workloads (`controller.executors.kubernetes`), the status on the object
(`controller.sinks.cluster`) and, where the environment says so, the results committed to
a status branch and pushed (`controller.sinks.git`).

- A restart loses nothing: a new leader resumes each experiment from the object's
  status, adopts the trial workloads that still exist and runs the rest again.
- Shutting down (SIGTERM) or losing the Lease leaves the trials running for the next
  leader, and writes every status first.
- A finalizer (`hpo-gen.io/results`) keeps a deleted Experiment until its final status is
  committed; then the object goes, its trials with it (they are owned by it).
- An object that is not a valid Experiment gets a Failed condition that says why, and is
  not run.

Where the cluster runs Katib (`HPO_EXECUTOR=katib`, an environment with
`executor="katib"`), `serve` executes nothing: it watches Katib's Experiments and Trials
and mirrors what they say into the same status files and commits (`controller.sources.katib`),
at the commit interval, when an experiment ends, and before one is deleted."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.core.records import ExperimentRecord
from controller.core.results import result_files
from controller.core.status import resume_point
from controller.engine.loop import Engine, Options, utc_now
from controller.errors import ControllerError
from controller.executors.kubernetes.executor import EXPERIMENT_LABEL, KubernetesExecutor
from controller.executors.kubernetes.pushing import PushReceiver, push_key
from controller.executors.kubernetes.requesting import Requests
from controller.kube.api import EXPERIMENTS, TRIALS, Kube, KubeError, Object
from controller.kube.watching import SharedWatches, Watcher
from controller.ports import ResultsTarget
from controller.service.checkpoints import Checkpoints, engine_checkpoint
from controller.service.leader import Leadership
from controller.service.monitoring import Endpoints, Monitor
from controller.service.run import round_message
from controller.sinks.cluster.status import ExperimentStatusSink
from controller.sinks.git.repo import GitRepo
from controller.sinks.git.sink import GitStatusSink
from controller.sources.cluster import InvalidExperiment, config_maps_for, experiment_of
from controller.sources.katib import completion_of, experiment_of_trial, record_of
from generator.katib.identity import NAME_LABEL, spec_digest
from generator.katib.models import Experiment, ObjectMeta
from generator.katib.status import StatusError

log = logging.getLogger("hpo-controller")

FINALIZER = "hpo-gen.io/results"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# Threads that create and delete every experiment's workloads: the successors of trials
# that end together are created together, each create a request to the API server.
REQUESTERS = 16
# How long a thread of `serve` may hold the interpreter before another that waits takes
# it (Python's default: 5 ms). Its threads (the runs, their watches, followed logs and
# requests) mostly wait for the API server, and each answer wakes one, which then waits
# up to this long for the interpreter while others compute: at 5 ms, a create's few
# wake-ups added up to most of the time from a trial's end to its successor's creation,
# and the requests fell behind.
SWITCH_INTERVAL = 0.001
# Experiments set up at once (each read, checked, its status read back, its executor and
# algorithm made), the others waiting their turn: 100 Experiments synced together would
# otherwise all compute at once, and the successors of the first ones' ended trials
# would wait for the interpreter behind them. Two: one computes while the other waits for
# the API server.
STARTING = 2


@dataclass(frozen=True)
class ServeSettings:
    """What `serve` runs: the namespace it watches (and holds its Lease in), the
    environment it is, this replica's identity, its work folder (trial output, the git
    checkout), its ports, and where results go beside the objects' status (None: the
    objects' status alone)."""

    namespace: str
    environment: str
    identity: str
    work: Path
    lease: str = "hpo-controller"
    probe_port: int = 8080
    metrics_port: int = 9090
    push_port: int = 8070
    push_url: str | None = None  # where trials reach push_port; None: the Service's DNS name
    service: str = "hpo-controller"  # the controller's Service in its namespace
    relay_image: str | None = None  # the metrics relay sidecar's (the controller's own image)
    mirror: bool = False  # Katib runs the experiments: their status is mirrored into git
    results: ResultsTarget | None = None
    lease_duration: float = 15.0
    renew: float = 2.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], **given: Any) -> ServeSettings:
        """The settings the rendered Deployment gives (HPO_* from the controller's
        ConfigMap, the namespace from the downward API or the service account), with what
        the command line said over them."""
        namespace = given.pop("namespace", None) or environ.get("POD_NAMESPACE")
        if not namespace and SERVICE_ACCOUNT_NAMESPACE.is_file():
            namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
        if not namespace:
            raise ControllerError(
                "no namespace to watch: pass --namespace, or set POD_NAMESPACE (the rendered "
                "Deployment sets it)"
            )
        environment = given.pop("environment", None) or environ.get("HPO_ENVIRONMENT")
        if not environment:
            raise ControllerError("no environment: pass --env, or set HPO_ENVIRONMENT")
        identity = environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        work = Path(given.pop("work", None) or environ.get("HPO_WORK") or "/work")
        results = None
        mode = environ.get("HPO_RESULTS") or "none"
        repository = environ.get("HPO_REPOSITORY")
        if mode == "status-branch" and repository:
            results = ResultsTarget(
                mode="status-branch",
                branch=environ.get("HPO_STATUS_BRANCH") or None,
                remote=repository,
                interval=float(environ.get("HPO_COMMIT_INTERVAL") or 60),
            )
        elif mode not in ("none", "status-branch"):
            raise ControllerError(
                f"HPO_RESULTS is {mode!r}: in the cluster, results go to a status branch "
                "(status-branch) or stay on the Experiment objects (none)"
            )
        executor = environ.get("HPO_EXECUTOR") or "cluster"
        if executor not in ("cluster", "katib"):
            raise ControllerError(
                f"HPO_EXECUTOR is {executor!r}: in the cluster, hpo-controller runs the trials "
                "(cluster) or mirrors what Katib runs (katib)"
            )
        if executor == "katib":
            if results is None:
                raise ControllerError(
                    "HPO_EXECUTOR is katib: hpo-controller then mirrors Katib's status into "
                    "git, and needs HPO_RESULTS=status-branch and HPO_REPOSITORY"
                )
            given.setdefault("mirror", True)
        if environ.get("HPO_RELAY_IMAGE"):
            given.setdefault("relay_image", environ["HPO_RELAY_IMAGE"])
        if environ.get("HPO_PUSH_URL"):
            given.setdefault("push_url", environ["HPO_PUSH_URL"])
        return cls(
            namespace=namespace,
            environment=environment,
            identity=identity,
            work=work,
            results=results,
            **given,
        )


@dataclass
class _Run:
    """One Experiment object being run."""

    name: str
    generation: int
    uid: str = ""
    digest: str = ""  # of its spec but the budget, as the object had it
    thread: threading.Thread | None = None
    engine: Engine | None = None
    executor: KubernetesExecutor | None = None
    record: ExperimentRecord | None = None
    experiment: Experiment | None = None
    status: ExperimentStatusSink | None = None
    done: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    leave_running: bool = False

    def stop(self, leave_running: bool = False) -> None:
        """Stop the run, or, where it waits for its turn to be set up, keep it from
        starting. `leave_running`: its trials' workloads are left running, for the run
        that takes over from it to adopt."""
        self.leave_running = leave_running
        self.stopped.set()  # before the engine is looked at: `_prepare` sets it, then looks
        if self.executor is not None and leave_running:
            self.executor.detach()
        if self.engine is not None:
            self.engine.request_stop()


@dataclass
class _Mirrored:
    """A Katib experiment mirrored: its spec, as of which generation, when it was last
    committed and with which trials, and whether its end was."""

    experiment: Experiment
    generation: int
    committed: float
    ended: bool = False
    trials: list[Any] = field(default_factory=list)


class Server:
    def __init__(self, kube: Kube, settings: ServeSettings, monitor: Monitor | None = None):
        self.kube, self.settings = kube, settings
        self.monitor = monitor or Monitor()
        self.leadership = Leadership(
            kube,
            settings.namespace,
            settings.lease,
            settings.identity,
            duration=settings.lease_duration,
            renew=settings.renew,
            deadline=settings.lease_duration * 2 / 3,
        )
        self.runs: dict[str, _Run] = {}
        self._lock = threading.RLock()
        self._starting = threading.Semaphore(STARTING)
        self._watcher: Watcher | None = None
        self._leaving = threading.Event()  # shutting down or lost the lease: no new runs
        self._git: GitStatusSink | None = None
        self._git_lock = threading.Lock()
        self._checkpoints: Checkpoints[tuple[Experiment, ExperimentRecord]] | None = None
        self._pushes: PushReceiver | None = None
        self._trials: Watcher | None = None  # mirroring: Katib's Trials
        self._workloads: SharedWatches | None = None  # every run's workloads, a watch a kind
        self._requests: Requests | None = None  # every run's workloads' creates, deletes
        self._mirrored: dict[str, _Mirrored] = {}
        self._dirty: set[str] = set()
        self.endpoints: Endpoints | None = None

    # -- probes -----------------------------------------------------------------------------

    def alive(self) -> bool:
        return True

    def ready(self) -> bool:
        """A follower is ready (it stands by); a leader once its watch has listed."""
        if not self.leadership.leading.is_set():
            return True
        return self._watcher is not None and self._watcher.synced.is_set()

    # -- the whole ---------------------------------------------------------------------------

    def serve(self, stop: threading.Event, ports: tuple[int, ...] | None = None) -> None:
        """Run until `stop` is set: lead when possible, run the experiments while leading."""
        wanted = (
            ports
            if ports is not None
            else (
                self.settings.probe_port,
                self.settings.metrics_port,
            )
        )
        self.endpoints = Endpoints(self.monitor, self.alive, self.ready, wanted)
        try:
            while not stop.is_set():
                if not self.leadership.wait_to_lead(stop):
                    break
                self._lead(stop)
        finally:
            self.leadership.release()
            self.endpoints.close()

    def _lead(self, stop: threading.Event) -> None:
        self._leaving.clear()
        lost = threading.Event()
        self._open_git()
        self._workloads = SharedWatches(self.kube, self.settings.namespace, EXPERIMENT_LABEL)
        self._requests = Requests(REQUESTERS)
        watcher = Watcher(
            self.kube,
            EXPERIMENTS,
            self.settings.namespace,
            "",
            self._on_experiment,
            name="watch-experiments",
        )
        self._watcher = watcher
        if self.settings.mirror:
            self._trials = Watcher(
                self.kube, TRIALS, self.settings.namespace, "", self._on_trial, name="watch-trials"
            )
            self._trials.start()
            self._trials.synced.wait(timeout=30)
        watcher.start()
        keeper = threading.Thread(
            target=self.leadership.keep, args=(stop, lost.set), name="lease", daemon=True
        )
        keeper.start()
        retry = self._git.target.interval if self._git is not None else None
        last_try = time.monotonic()
        while not stop.is_set() and not lost.is_set():
            stop.wait(0.2)
            if retry is not None and time.monotonic() - last_try >= retry:
                last_try = time.monotonic()
                self._push()
            if self.settings.mirror:
                self._mirror_changed()
        self._leaving.set()
        if self.settings.mirror:
            self._mirror_changed(final=True)
        watcher.stop()
        if self._trials is not None:
            self._trials.stop()
            self._trials = None
        keeper.join()  # no renewal after this: a release cannot be undone by one in flight
        self._halt_all()
        self._watcher = None
        self._workloads.stop()
        self._workloads = None
        if self._requests is not None:
            self._requests.shutdown()  # the deletes asked last
            self._requests = None
        self._close_git()
        with self._lock:
            if self._pushes is not None:
                self._pushes.close()
                self._pushes = None

    def _halt_all(self) -> None:
        """Stop every run, leaving its trials running for the next leader; its status is
        written before it returns."""
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            run.stop(leave_running=True)
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=60)
        with self._lock:
            self.runs.clear()

    # -- events ------------------------------------------------------------------------------

    def _on_experiment(self, kind: str, body: Object) -> None:
        if self._leaving.is_set():
            return
        if self.settings.mirror:
            self._on_katib_experiment(kind, body)
            return
        metadata = body.get("metadata") or {}
        name = str(metadata.get("name", ""))
        generation = int(metadata.get("generation") or 0)
        with self._lock:
            current = self.runs.get(name)
        if kind == "DELETED":
            if current is not None:
                current.stop()
            self.monitor.experiment_deleted(self.settings.namespace, name)
            return
        if metadata.get("deletionTimestamp"):
            if current is not None:
                current.stop()  # its finalizer runs when the run has stopped
            if FINALIZER in (metadata.get("finalizers") or []):
                threading.Thread(target=self._finalize, args=(body, current), daemon=True).start()
            return
        uid = str(metadata.get("uid") or "")
        spec = body.get("spec")
        digest = spec_digest(spec) if isinstance(spec, dict) else ""  # not one: refused later
        renamed = current is not None and current.uid != uid
        if current is not None and not renamed:
            if current.generation == generation:
                return  # running, or done, for this spec
            # An object refused before it ran may be mended in any way; one that ran may
            # change as Katib lets it: its budget, to a valid one.
            refused = None if current.experiment is None else _refused_change(current, body, digest)
            if refused is not None:
                log.warning("%s: %s; its spec stays the one it ran with", name, refused)
                current.generation = generation  # said once
                return
            if not current.done.is_set():
                current.stop(leave_running=True)  # the budget changed: a run resumes on it
        elif current is not None:
            current.stop()  # its object is gone (its deletion unseen), another has its name
        if kind == "ADDED" and (current is None or renamed) and not (body.get("status") or {}):
            self.monitor.experiment_created(self.settings.namespace)
        run = _Run(name, generation, uid, digest)
        run.thread = threading.Thread(
            target=self._run, args=(run, body, current), daemon=True, name=f"experiment-{name}"
        )
        with self._lock:
            self.runs[name] = run
        run.thread.start()

    # -- Katib's experiments, mirrored ------------------------------------------------------------

    def _on_katib_experiment(self, kind: str, body: Object) -> None:
        metadata = body.get("metadata") or {}
        name = str(metadata.get("name", ""))
        if kind == "DELETED":
            with self._lock:
                self._mirrored.pop(name, None)
            return
        if metadata.get("deletionTimestamp"):
            if FINALIZER in (metadata.get("finalizers") or []):
                threading.Thread(target=self._finalize_mirror, args=(body,), daemon=True).start()
            return
        if FINALIZER not in (metadata.get("finalizers") or []):
            try:
                self._add_finalizer(name)
            except (ControllerError, KubeError) as err:
                log.warning("%s: %s", name, err)
        with self._lock:
            self._dirty.add(name)

    def _on_trial(self, kind: str, body: Object) -> None:
        name = experiment_of_trial(body)
        if name:
            with self._lock:
                self._dirty.add(name)

    def _mirror_changed(self, final: bool = False) -> None:
        """Commit what changed in Katib's objects: at the commit interval, when an
        experiment ended, and (`final`) everything before this leader goes."""
        with self._lock:
            names = set(self._mirrored) if final else set()
            names |= self._dirty
            self._dirty.clear()
        for name in sorted(names):
            self._mirror(name, force=final)

    def _mirror(self, name: str, force: bool = False) -> None:
        watcher, trials = self._watcher, self._trials
        if watcher is None or trials is None:
            return
        body = watcher.get(self.settings.namespace, name)
        if body is None:
            return
        with self._lock:
            state = self._mirrored.get(name)
        generation = int((body.get("metadata") or {}).get("generation") or 0)
        if state is None or state.generation != generation:
            try:
                experiment = experiment_of(body)
            except InvalidExperiment as err:
                log.warning("%s: not mirrored: %s", name, err)
                return
            state = _Mirrored(experiment, generation, time.monotonic())
            with self._lock:
                self._mirrored[name] = state
        due = time.monotonic() - state.committed >= self._git_interval()
        ending = not state.ended and completion_of(body) is not None
        if not (force or ending or due):
            with self._lock:
                self._dirty.add(name)  # looked at again at the interval, read then
            return
        owned = [t for t in list(trials.objects.values()) if experiment_of_trial(t) == name]
        record = record_of(body, owned)
        if force or ending or record.trials != state.trials:
            self._commit(state.experiment, record)
            state.committed, state.trials = time.monotonic(), record.trials
            state.ended = state.ended or record.completion is not None

    def _git_interval(self) -> float:
        return self._git.target.interval if self._git is not None else 60.0

    def _finalize_mirror(self, body: Object) -> None:
        """A Katib Experiment going: its last status committed, then our finalizer off."""
        name = str(body["metadata"]["name"])
        self._mirror(name, force=True)
        try:
            if self._set_finalizer(name, present=False):
                log.info("%s: deleted; its results are committed", name)
        except KubeError as err:
            log.warning("%s: finalizer not removed: %s", name, err)

    # -- one experiment --------------------------------------------------------------------------

    def _run(self, run: _Run, body: Object, before: _Run | None = None) -> None:
        """Run the experiment, once the run `before` it under its name (another object's,
        or an earlier generation's) has ended."""
        try:
            if before is not None:
                before.done.wait()
            with self._starting:  # set up in turn: the runs under way keep the interpreter
                stopped = self._leaving.is_set() or run.stopped.is_set()
                prepared = None if stopped else self._prepare(run, body)
            if prepared is None:
                return
            experiment, executor, engine = prepared
            try:
                record = engine.run()
            finally:
                executor.shutdown()
                checkpoints = self._checkpoints  # read once: the git sink may be closing
                if checkpoints is not None:
                    checkpoints.close(run.name)
            run.record = record  # its last state is counted: the final save was observed
            self._commit(experiment, record)
        except ControllerError as err:
            log.error("%s: %s", run.name, err)
            self._refuse(run.name, str(err), reason="ExperimentFailed")
        except Exception:
            log.exception("%s: internal error", run.name)
        finally:
            run.done.set()

    def _prepare(
        self, run: _Run, body: Object
    ) -> tuple[Experiment, KubernetesExecutor, Engine] | None:
        """The experiment read and checked, its finalizer set, its status read back, its
        executor and engine made; None where it does not run (refused, or finished)."""
        namespace = self.settings.namespace
        try:
            experiment = experiment_of(body)
        except InvalidExperiment as err:
            self._refuse(run.name, str(err))
            return None
        run.experiment = experiment
        self._add_finalizer(run.name)
        run.status = sink = ExperimentStatusSink(
            self.kube,
            namespace,
            run.name,
            self.settings.work,
            experiment=experiment,
            environment=self.settings.environment,
        )
        try:
            document = sink.read(run.name)
            start = resume_point(experiment, document, rerun=False)
        except StatusError as err:
            log.warning(
                "%s: its status cannot be resumed from (%s); starting afresh", run.name, err
            )
            start = resume_point(experiment, None, rerun=False)
        if start.finished is not None:
            self.monitor.experiment_state(namespace, run.name, start.finished.condition)
            return None
        if start.previous is not None:
            self.monitor.baseline(namespace, start.previous)
        executor = KubernetesExecutor(
            self.kube,
            experiment,
            namespace,
            self.settings.work / "logs" / namespace / run.name,
            owner=body,
            pushes=self._push_receiver() if _pushes_metrics(experiment) else None,
            relay_image=self.settings.relay_image,
            shared=self._workloads,
            requests=self._requests,
        )
        options = Options(
            config_maps=config_maps_for(self.kube, experiment),
            previous=start.previous,
            on_change=lambda record: self._changed(run, record, sink),
            checkpoint=self._checkpoint(experiment),
        )
        engine = Engine(experiment, self.settings.environment, executor, sink, options)
        run.executor, run.engine = executor, engine
        if self._leaving.is_set():
            run.stop(leave_running=True)
        elif run.stopped.is_set():  # deleted, or its budget changed, while it was set up
            run.stop(run.leave_running)
        return experiment, executor, engine

    def _changed(self, run: _Run, record: ExperimentRecord, sink: ExperimentStatusSink) -> None:
        run.record = record
        sink.observe(record)
        self.monitor.observe(self.settings.namespace, record)
        state = (
            record.completion.condition
            if record.completion is not None
            else ("Running" if record.trials else "Created")
        )
        self.monitor.experiment_state(self.settings.namespace, run.name, state)

    def _refuse(self, name: str, message: str, reason: str = "ExperimentInvalid") -> None:
        """A Failed condition on the object that says why it does not run."""
        now = utc_now()
        status = {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastUpdateTime": now,
                    "lastTransitionTime": now,
                }
            ]
        }
        log.error("%s: not run: %s", name, message)
        try:
            self.kube.patch(
                EXPERIMENTS, self.settings.namespace, name, {"status": status}, sub="status"
            )
        except KubeError as err:
            log.warning("%s: its status could not say so: %s", name, err)
        self.monitor.experiment_state(self.settings.namespace, name, "Failed")

    def _add_finalizer(self, name: str) -> None:
        if not self._set_finalizer(name, present=True):
            raise ControllerError(
                f"{name}: its finalizer could not be added (the object keeps changing)"
            )

    def _set_finalizer(self, name: str, present: bool) -> bool:
        """Add or remove FINALIZER, naming the resourceVersion read (a 409 reads again);
        whether the object is as asked (or gone)."""
        for _ in range(5):
            body = self.kube.get(EXPERIMENTS, self.settings.namespace, name)
            if body is None:
                return True
            finalizers = list((body.get("metadata") or {}).get("finalizers") or [])
            if (FINALIZER in finalizers) == present:
                return True
            others = [f for f in finalizers if f != FINALIZER]
            wanted = [*others, FINALIZER] if present else others
            patch = {
                "metadata": {
                    "finalizers": wanted or None,
                    "resourceVersion": body["metadata"]["resourceVersion"],
                }
            }
            try:
                self.kube.patch(EXPERIMENTS, self.settings.namespace, name, patch)
                return True
            except KubeError as err:
                if not err.is_conflict:
                    raise
        return False

    def _finalize(self, body: Object, run: _Run | None) -> None:
        """The object is being deleted: its run stopped, its last status committed, then
        the finalizer removed (the API server then deletes it and its trials)."""
        name = str(body["metadata"]["name"])
        if run is not None:
            run.done.wait(timeout=120)
            if run.experiment is not None and run.record is not None:
                self._commit(run.experiment, run.record)
        try:
            if self._set_finalizer(name, present=False):
                log.info("%s: deleted; its results are committed", name)
            else:
                log.warning("%s: finalizer not removed: the object keeps changing", name)
        except KubeError as err:
            log.warning("%s: finalizer not removed: %s", name, err)

    def _push_receiver(self) -> PushReceiver:
        """The endpoint Push trials report to, opened when the first one needs it."""
        with self._lock:
            if self._pushes is None:
                settings = self.settings
                base = settings.push_url
                if base is None:
                    base = (
                        f"http://{settings.service}.{settings.namespace}.svc:{settings.push_port}"
                    )
                key = push_key(self.kube, settings.namespace)
                self._pushes = PushReceiver(key, base, settings.push_port)
            return self._pushes

    # -- git ------------------------------------------------------------------------------------

    def _open_git(self) -> None:
        target = self.settings.results
        if target is None:
            return
        root = self.settings.work / "repository"
        root.mkdir(parents=True, exist_ok=True)
        repo = GitRepo.initialised(root)
        self._git = GitStatusSink(repo, self.settings.environment, target, log.info)
        self._git.start()
        # Every running experiment's results in rounds: one commit, one push for all.
        self._checkpoints = Checkpoints(target.interval, self._commit_round)

    def _close_git(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.close()
            self._checkpoints = None
        if self._git is not None:
            self._git.close()
            self._git = None

    def _checkpoint(self, experiment: Experiment) -> Callable[[ExperimentRecord], None] | None:
        checkpoints = self._checkpoints
        return None if checkpoints is None else engine_checkpoint(checkpoints, experiment)

    def _commit(self, experiment: Experiment, record: ExperimentRecord) -> None:
        """The results of one experiment in git, pushed with whatever else waits."""
        self._commit_round({experiment.name: (experiment, record)})

    def _commit_round(self, batch: dict[str, tuple[Experiment, ExperimentRecord]]) -> None:
        """The results of the experiments in `batch` in one commit, each under its logical
        name, then pushed; a failure is logged and kept for the next commit (the
        Publisher keeps what it could not push)."""
        sink = self._git
        if sink is None:
            return
        parts = [(_logical(experiment), record) for experiment, record in batch.values()]
        environment, namespace = self.settings.environment, self.settings.namespace
        with self._git_lock:
            written = []
            for logical, record in parts:
                try:
                    sink.write(logical.name, result_files(logical, record, environment))
                    written.append((logical, record))
                except ControllerError as err:
                    log.warning("%s: results not committed yet: %s", logical.name, err)
            names = [logical.name for logical, _ in written]
            try:
                if written:
                    message = round_message(written, environment, namespace, sink.target)
                    sink.commit_many(names, message, push=False)
            except ControllerError as err:
                log.warning("%s: results not committed yet: %s", ", ".join(names), err)
        self._push()

    def _push(self) -> None:
        """What the local status branch holds and the remote lacks goes out (after a
        round of commits; at the commit interval, results an earlier push left here). The
        Publisher lets one push go at a time, outside the commit lock: experiments that
        commit while a push is under way go out together with the next one."""
        sink = self._git
        if sink is None:
            return
        environment = self.settings.environment
        message = (  # for the commit that carries them on top where others moved the branch
            f"status/{environment}: results [skip ci]\n\n"
            f"Environment: {environment}\n"
            + "".join(f"{key}: {value}\n" for key, value in sink.target.trailers)
        )
        try:
            sink.push_pending(message)
        except ControllerError as err:
            log.warning("results not pushed yet: %s", err)
        self._tell_pushed()

    def _tell_pushed(self) -> None:
        """Each Experiment's `ResultsPushed` condition as the remote now stands."""
        sink = self._git
        state = sink.remote_state() if sink is not None else None
        now = utc_now()
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            if run.status is not None and run.status.results(state, now):
                try:
                    run.status.write(run.name, {})
                except ControllerError as err:
                    log.warning("%s: %s", run.name, err)


def _refused_change(run: _Run, body: Object, digest: str) -> str | None:
    """Why a change to a running Experiment's spec is not taken up, as Katib's webhook
    would refuse it (None: it is a valid change of the budget)."""
    if run.digest != digest:
        return (
            "its spec changed beyond maxTrialCount, parallelTrialCount and "
            "maxFailedTrialCount, which Katib does not allow (a new search is a new Experiment)"
        )
    try:
        experiment_of(body)
    except InvalidExperiment as err:
        return f"its new budget is not valid: {err}"
    return None


def _pushes_metrics(experiment: Experiment) -> bool:
    collecting = experiment.spec.metrics_collector_spec
    return bool(collecting and collecting.collector and collecting.collector.kind == "Push")


def _logical(experiment: Experiment) -> Experiment:
    """The experiment under the name its spec gives (the object's name carries a hash)."""
    labels = experiment.metadata.labels or {}
    name = labels.get(NAME_LABEL)
    if not name or name == experiment.name:
        return experiment
    metadata = experiment.metadata.model_copy(update={"name": name})
    assert isinstance(metadata, ObjectMeta)
    return experiment.model_copy(update={"metadata": metadata})
