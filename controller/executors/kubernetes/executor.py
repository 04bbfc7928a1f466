"""Trials as Kubernetes workloads: each trial is the trial template's object (a Job, a
PyTorchJob, a TFJob, an XGBoostJob, an MPIJob, an Argo Workflow, a Tekton PipelineRun, any
kind the cluster serves), created with the trial's values already in it, named and
labelled as Katib names and labels it, owned by its Experiment. The object's own status
says when the trial ended: the template's failureCondition, then its successCondition
(GJSON, as Katib evaluates them). Capacity is the cluster's business: the executor creates
what the engine starts and lets the scheduler queue pods; a pending pod is no failure
(a deadline in the template is the workload's own).

The primary container's output is followed through the API's log endpoint into a local
file, where the StdOut collector reads it as it would a local trial's (so median stopping
works while trials run). A follow that breaks resumes from the last line's timestamp; a
container that restarts is read to its end through `previous`; a log that vanished is
said in the trial's output file and the trial ends on its object's status as any other.

A trial whose object exists already when it is started (the controller restarted while it
ran) is adopted, not created again: its exit is reported when its status says so. One
that an earlier Experiment of the same name left (deleted and made again before the
garbage collector came) is deleted and made anew; its events are not the trial's.

`start` hands the create to the controller's request threads (`requesting`) and returns:
the run goes on to its next event while the API server answers, so the successors of
trials that end together are created together, not each after the last one's answer, and
a trial that takes an ended trial's slot is created before other experiments' first
trials. A create the cluster refuses stops the run with the cluster's words at its next
look for an exit; a stop waits for the trial's create first.

An ended workload's exit is told at once, with the time its end was seen, while its
output is still being read to the end: the run starts the successor, then waits for the
output (`settle`) before it reads the result; the workload is deleted after."""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from controller.core import step
from controller.core.records import TrialExit
from controller.core.trialspec import Command, Demand
from controller.engine.loop import utc_now
from controller.errors import ControllerError
from controller.executors.kubernetes.following import LogFollower
from controller.executors.kubernetes.pushing import PushReceiver
from controller.executors.kubernetes.requesting import DELETE, FIRST, REPLACEMENT, Requests
from controller.executors.kubernetes.shaping import (
    RELAY_CONTAINER,
    add_environment,
    add_relay,
    label_workload,
    primary_selector,
)
from controller.kube.api import PODS, Kube, KubeError, Object, Resource
from controller.kube.watching import SharedWatches, Subscription, Watcher
from controller.metrics.collectors import collector_for
from controller.metrics.relay import RELAYED
from generator.katib import gjson
from generator.katib.defaults import TRIAL_KIND_DEFAULTS
from generator.katib.models import Experiment

log = logging.getLogger("hpo-controller")

EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
TRIAL_LABEL = "katib.kubeflow.org/trial"
# Exit codes the step reads: a trial whose workload failed, one the controller deleted.
FAILED_EXIT = 1
STOPPED_EXIT = 143  # as a process ended by SIGTERM
UNLIMITED = 1_000_000  # "as many as the engine starts": the scheduler queues the rest
# How metrics reach the controller from a trial in the cluster: its output, through the
# API; its reports, pushed to the controller's endpoint (`pushing`); or the output of the
# relay sidecar that reads its metrics file or event files (`controller.metrics.relay`).
CLUSTER_COLLECTORS = ("StdOut", "Push", "File", "TensorFlowEvent")
REQUESTERS = 4  # threads that create and delete its workloads, where none are shared
FINISH_WAIT = 10.0  # seconds an ended trial's last lines are waited for, from its end
# A workload an earlier Experiment of the same name left: how long it is waited for to
# go, and how often it is looked for meanwhile.
LEFTOVER_WAIT, LEFTOVER_POLL = 60.0, 0.5


class KubernetesExecutor:
    """One experiment's trials in one namespace. `owner`: the Experiment object its
    workloads are owned by (garbage-collected with it); `logs`: the local folder where
    each trial's followed output goes; `retain`: keep finished workloads (None: the
    template's `retain`); `pushes`: the endpoint Push trials report to; `relay_image`: the
    image of the sidecar that relays File and TensorFlowEvent metrics (the controller's);
    `shared`: the watches of the controller's experiments, one per kind (None: this
    executor watches its own workloads); `requests`: the threads that create and delete
    workloads, shared by the controller's experiments (None: threads of its own)."""

    workloads = True  # creates each trial's object; its output comes back through the API

    def __init__(
        self,
        kube: Kube,
        experiment: Experiment,
        namespace: str,
        logs: Path,
        *,
        owner: Object | None = None,
        retain: bool | None = None,
        pushes: PushReceiver | None = None,
        relay_image: str | None = None,
        shared: SharedWatches | None = None,
        requests: Requests | None = None,
    ):
        template = experiment.spec.trial_template
        if template is None:
            raise ControllerError(f"experiment {experiment.name!r} has no trial template")
        collecting = experiment.spec.metrics_collector_spec
        kind = collecting.collector.kind if collecting and collecting.collector else "StdOut"
        if kind not in CLUSTER_COLLECTORS:
            raise ControllerError(
                f"experiment {experiment.name!r}: its {kind} metrics collector does not run "
                "in the cluster yet: hpo-controller reads trials' metrics from the primary "
                "container's output there (collector kind StdOut); print them as "
                "`name=value` lines, push them (collector kind Push), or run the experiment "
                "in a local environment"
            )
        self.collector = collector_for(collecting, step.wanted_metrics(experiment.spec))
        self.relay_image = relay_image if kind in RELAYED else None
        if kind in RELAYED and (not relay_image or not self.collector.path):
            raise ControllerError(
                f"experiment {experiment.name!r}: its {kind} metrics collector needs "
                + ("its metrics path" if relay_image else "the relay sidecar's image")
                + " (hpo-controller serve has it from HPO_RELAY_IMAGE, which the rendered "
                "Deployment sets to its own image)"
            )
        if kind == "Push" and pushes is None:
            raise ControllerError(
                f"experiment {experiment.name!r}: its Push metrics collector needs the "
                "controller's endpoint that trials push to (hpo-controller serve has one)"
            )
        self.pushes = pushes if kind == "Push" else None
        self.kube, self.experiment, self.namespace = kube, experiment, namespace
        self.name = experiment.name
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.owner = owner
        self.retain = template.retain if retain is None else retain
        self.template = template
        # Exits; None: a wake-up; an error: a create the cluster refused (the run stops).
        self._exits: queue.Queue[TrialExit | ControllerError | None] = queue.Queue()
        self._own_requests = requests is None
        self._requests = requests or Requests(REQUESTERS, name=f"requests-{experiment.name}")
        self._creating: dict[str, Future[None]] = {}
        self._lock = threading.RLock()
        self._running: dict[str, Resource] = {}  # trial -> its workload's kind
        self._stopping: set[str] = set()
        self._reported: set[str] = set()
        self._followers: dict[str, list[LogFollower]] = {}
        # Trials whose workloads ended, told before their output is all read: their
        # followers, the workload to delete once it is, and how long it is waited for.
        self._ending: dict[str, tuple[list[LogFollower], Resource | None, float]] = {}
        self._settling = threading.Condition()  # a following ended, or an exit was told
        self._watchers: dict[Resource, Watcher | Subscription] = {}
        self._shared = shared
        # With shared watches, the trials' pods come from one watch of pods too (their
        # labels name the experiment), by trial: no pod is listed through the API.
        self._pods: dict[str, dict[str, Object]] | None = None
        self._pods_watch: Subscription | None = None
        self._conditions_of: dict[str, tuple[gjson.Condition, gjson.Condition]] = {}
        self._detached = False
        self._selector = f"{EXPERIMENT_LABEL}={self.name}"

    # -- the port ------------------------------------------------------------------------

    def start(self, trial: str, command: Command) -> Path:
        """Create the trial's workload (or adopt the one that exists); the file its primary
        container's output is followed into."""
        if command.manifest is None:
            raise ControllerError(f"trial {trial}: no workload to create")
        manifest = copy.deepcopy(dict(command.manifest()))
        resource = self._resource(manifest)
        self._ensure_watching(resource)
        body = label_workload(
            manifest,
            trial=trial,
            namespace=self.namespace,
            labels={EXPERIMENT_LABEL: self.name, TRIAL_LABEL: trial},
            owner=self.owner,
        )
        if self.pushes is not None:  # where and with what token the trial reports
            local = command.metrics_file
            if not local:
                raise ControllerError(f"trial {trial}: no metrics file to take its pushes into")
            add_environment(body, self.pushes.register(self.namespace, trial, Path(local)))
        primary_labels = self._primary_labels(resource.kind)
        selector = primary_selector(TRIAL_LABEL, trial, primary_labels)
        pods = self._cached_pods(trial, primary_labels)
        followers = []
        if self.relay_image is not None:
            followers.append(self._relayed(body, trial, selector, command.metrics_file, pods))
        log_path = self.logs / f"{trial}.log"
        log_path.write_bytes(b"")
        followers.append(
            LogFollower(
                self.kube,
                self.namespace,
                trial,
                selector,
                self.primary,
                log_path,
                pods,
                then=self._changed,
            )
        )
        with self._lock:  # known before it exists: an end seen at once waits for its output
            self._running[trial] = resource
            self._reported.discard(trial)
            self._stopping.discard(trial)
            self._followers[trial] = followers
            # once an exit has been told, a trial started takes an ended trial's slot
            kind = REPLACEMENT if self._reported else FIRST
            self._creating[trial] = self._requests.submit(
                kind, self._create, trial, resource, body, followers
            )
        return log_path

    def _create(
        self, trial: str, resource: Resource, body: Object, followers: list[LogFollower]
    ) -> None:
        """On a request thread: create the workload (or adopt the one that exists),
        then follow its output. A refusal is told to the run through the exits."""
        try:
            adopted = self._make(trial, resource, body)
        except ControllerError as err:
            with self._lock:
                self._running.pop(trial, None)
                self._followers.pop(trial, None)
                self._creating.pop(trial, None)
            self._exits.put(err)
            return
        except BaseException as err:  # a bug: the run stops and says so
            with self._lock:
                self._creating.pop(trial, None)
            self._exits.put(ControllerError(f"trial {trial}: its create failed: {err!r}"))
            raise
        for follower in followers:
            follower.start()
        with self._lock:
            self._creating.pop(trial, None)
        if adopted is not None:  # it may have finished already: its events came before
            known = self._watchers[resource].get(self.namespace, trial)
            self._judge(known if known is not None and _uid(known) == _uid(adopted) else adopted)

    def _make(self, trial: str, resource: Resource, body: Object) -> Object | None:
        """Create the workload; the one of its name that exists already where it is this
        Experiment's (the controller restarted while it ran: adopted, and returned). One
        that an earlier Experiment of the same name left (deleted and made again, its
        workloads not yet collected) is deleted, as the garbage collector would, and the
        create made again once it is gone, its pods first (foreground): no pod of it is
        taken for the new trial's."""
        ends = time.monotonic() + LEFTOVER_WAIT
        while True:
            try:
                self.kube.create(resource, self.namespace, body)
                return None
            except KubeError as err:
                if not err.is_conflict:
                    raise ControllerError(
                        f"trial {trial}: the cluster refused its {resource.kind}: {err.detail}"
                    ) from err
            existing = self.kube.get(resource, self.namespace, trial)
            if existing is not None:
                labels = (existing.get("metadata") or {}).get("labels") or {}
                if labels.get(EXPERIMENT_LABEL) != self.name:
                    raise ControllerError(
                        f"trial {trial}: a {resource.kind} of that name exists in namespace "
                        f"{self.namespace} and is not this experiment's; delete it or rename "
                        "the experiment"
                    )
                if self._owned(existing):
                    log.info("%s: adopted its running %s", trial, resource.kind)
                    return existing
            if time.monotonic() > ends:
                raise ControllerError(
                    f"trial {trial}: the {resource.kind} of that name that an earlier "
                    f"Experiment {self.name!r} left in namespace {self.namespace} is still "
                    f"in the way after {LEFTOVER_WAIT:.0f} s; delete it"
                )
            if existing is not None:  # (one gone meanwhile: the create is made again)
                log.info("%s: deleting the %s an earlier %s left", trial, resource.kind, self.name)
                self.kube.delete(resource, self.namespace, trial, propagation="Foreground")
                time.sleep(LEFTOVER_POLL)

    def _created(self, trial: str) -> None:
        """Wait for the trial's create, if it is under way."""
        with self._lock:
            creating = self._creating.get(trial)
        if creating is not None:
            creating.exception()  # (what went wrong is told through the exits)

    def trial_file(self, trial: str, suffix: str) -> Path:
        path = self.logs / f"{trial}{suffix}"
        if path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        path.unlink(missing_ok=True)
        return path

    def stop(self, trial: str) -> None:
        """Delete the workload (its pods with it); its exit is reported once it is gone.
        Detached (the controller is shutting down), the workload is left running and
        adopted by the next controller."""
        self._created(trial)  # a delete before the create would leave the workload behind
        with self._lock:
            resource = self._running.get(trial)
            if resource is None or trial in self._reported:
                return
            self._stopping.add(trial)
            detached = self._detached
        if detached:
            self._report(trial, TrialExit(trial, STOPPED_EXIT))
            return
        try:
            gone = self.kube.delete(resource, self.namespace, trial, propagation="Background")
        except KubeError as err:
            log.warning("trial %s: could not delete its %s: %s", trial, resource.kind, err)
            gone = False
        if not gone:
            self._report(trial, TrialExit(trial, STOPPED_EXIT))

    def next_exit(self, timeout: float | None = None) -> TrialExit | None:
        try:
            exit = self._exits.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(exit, ControllerError):
            raise exit
        return exit

    def wake(self) -> None:
        self._exits.put(None)

    def capacity(self, demand: Demand) -> int:
        return UNLIMITED

    def shutdown(self) -> None:
        with self._lock:
            creating = list(self._creating)
        for trial in creating:
            self._created(trial)
        with self._lock:
            running = [t for t in self._running if t not in self._reported]
            detached = self._detached
            ending, self._ending = dict(self._ending), {}
        if not detached:
            for trial in running:
                self.stop(trial)
        for watcher in self._watchers.values():
            watcher.stop()
        if self._pods_watch is not None:
            self._pods_watch.stop()
        for followers in [*self._followers.values(), *(f for f, _, _ in ending.values())]:
            for follower in followers:
                follower.stop()
        if not detached and not self.retain:  # ended, their results unread: done with
            for trial, (_, resource, _) in ending.items():
                if resource is not None:
                    self._delete(trial, resource)
        if self._own_requests:
            self._requests.shutdown()  # once the deletes it was handed are made

    # -- beyond the port -----------------------------------------------------------------

    def detach(self) -> None:
        """From now on, a stop leaves the workload running (the controller is going away
        and the next one adopts it)."""
        with self._lock:
            self._detached = True

    @property
    def primary(self) -> str:
        return self.template.primary_container_name or ""

    def _relayed(
        self,
        body: dict[str, Any],
        trial: str,
        selector: str,
        metrics_file: str | None,
        pods: Callable[[], list[Object]] | None,
    ) -> LogFollower:
        """The relay sidecar in the trial's primary pod template(s); the follower of its
        output into the trial's metrics file."""
        assert self.relay_image is not None and self.collector.path is not None
        if not metrics_file:
            raise ControllerError(f"trial {trial}: no metrics file to relay its metrics into")
        added = add_relay(
            body,
            primary=self.primary,
            image=self.relay_image,
            kind=self.collector.kind,
            path=self.collector.path,
            metrics=list(self.collector.wanted),
        )
        if not added:
            raise ControllerError(
                f"experiment {self.name!r}: its {self.collector.kind} metrics are read by a "
                "sidecar in the pod that runs the primary container "
                f"{self.primary or '(the first)'!r}, and no pod template of its "
                f"{body.get('kind')} has one; use the StdOut or Push collector for it"
            )
        return LogFollower(
            self.kube,
            self.namespace,
            trial,
            selector,
            RELAY_CONTAINER,
            Path(metrics_file),
            pods,
            then=self._changed,
        )

    def _resource(self, manifest: Mapping[str, Any]) -> Resource:
        api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise ControllerError(f"experiment {self.name!r}: the trial spec has no kind")
        return Resource.of(api_version, kind)

    def _conditions(self, kind: str) -> tuple[gjson.Condition, gjson.Condition]:
        """The kind's success and failure conditions, parsed once."""
        known = self._conditions_of.get(kind)
        if known is not None:
            return known
        defaults = TRIAL_KIND_DEFAULTS.get(kind)
        success = self.template.success_condition or (defaults[0] if defaults else None)
        failure = self.template.failure_condition or (defaults[1] if defaults else None)
        if not success or not failure:
            raise ControllerError(
                f"experiment {self.name!r}: a {kind} trial needs successCondition and "
                "failureCondition (Katib defaults them only for Job and the Kubeflow kinds)"
            )
        try:
            parsed = self._conditions_of[kind] = (gjson.parse(success), gjson.parse(failure))
        except gjson.ConditionError as err:
            raise ControllerError(f"experiment {self.name!r}: {err}") from err
        return parsed

    def _primary_labels(self, kind: str) -> Mapping[str, str]:
        labels = self.template.primary_pod_labels
        if labels is None:
            defaults = TRIAL_KIND_DEFAULTS.get(kind)
            labels = defaults[2] if defaults else None
        return labels or {}

    def _cached_pods(
        self, trial: str, primary_labels: Mapping[str, str]
    ) -> Callable[[], list[Object]] | None:
        """The trial's primary pods from the shared watch of pods (None: no shared
        watches; the followers list them through the API)."""
        if self._shared is None:
            return None
        if self._pods_watch is None:
            self._pods = {}
            self._pods_watch = self._shared.subscribe(PODS, self.name, self._on_pod)
        known = self._pods
        assert known is not None

        def pods() -> list[Object]:
            with self._lock:
                found = list(known.get(trial, {}).values())
            return [
                pod
                for pod in found
                if all(
                    ((pod.get("metadata") or {}).get("labels") or {}).get(key) == value
                    for key, value in primary_labels.items()
                )
            ]

        return pods

    def _on_pod(self, kind: str, body: Object) -> None:
        metadata = body.get("metadata") or {}
        trial = str((metadata.get("labels") or {}).get(TRIAL_LABEL) or "")
        name = str(metadata.get("name") or "")
        with self._lock:
            if self._pods is None or not trial:
                return
            if kind == "DELETED":
                self._pods.get(trial, {}).pop(name, None)
            else:
                self._pods.setdefault(trial, {})[name] = body
            followers = self._followers.get(trial) or self._ending.get(trial, ([], None, 0))[0]
        for follower in followers:
            follower.poke()

    def _ensure_watching(self, resource: Resource) -> None:
        """Its workloads of that kind watched: through the controller's shared watch of
        the kind, or a watch of its own. Subscribed outside the lock: the first list's
        events come into `_on_workload`, which takes it."""
        with self._lock:
            if resource in self._watchers:
                return
            self._conditions(resource.kind)  # a kind with no conditions: said before creating
        if self._shared is not None:
            view: Watcher | Subscription = self._shared.subscribe(
                resource, self.name, self._on_workload
            )
        else:
            view = Watcher(
                self.kube,
                resource,
                self.namespace,
                self._selector,
                self._on_workload,
                name=f"watch-{resource.plural}",
            ).start()
            view.synced.wait(timeout=30)
        with self._lock:
            self._watchers.setdefault(resource, view)

    def _owned(self, body: Object) -> bool:
        """Whether the workload is this Experiment object's (not an earlier one's of the
        same name); any of the experiment's, where the executor has no owner (or one
        not stored yet, without a uid)."""
        owner = _uid(self.owner) if self.owner is not None else ""
        if not owner:
            return True
        references = (body.get("metadata") or {}).get("ownerReferences") or []
        return owner in {str(r.get("uid")) for r in references if isinstance(r, dict)}

    def _on_workload(self, kind: str, body: Object) -> None:
        name = str((body.get("metadata") or {}).get("name", ""))
        with self._lock:
            known = name in self._running and name not in self._reported
            stopping = name in self._stopping
        if not known or not self._owned(body):
            return
        if kind == "DELETED":
            self._report(
                name,
                TrialExit(
                    name,
                    STOPPED_EXIT if stopping else FAILED_EXIT,
                    reason="" if stopping else "Deleted",
                    message="" if stopping else "its workload was deleted",
                ),
            )
            return
        self._judge(body)

    def _judge(self, body: Object) -> None:
        """Report the trial's exit where its workload's status says it ended."""
        name = str((body.get("metadata") or {}).get("name", ""))
        success, failure = self._conditions(str(body.get("kind", "")))
        failed = gjson.evaluate(failure, body)
        if gjson.holding(failed):
            reason, message = _why(failed)
            exit = TrialExit(
                name, FAILED_EXIT, reason == "DeadlineExceeded", reason, message, utc_now()
            )
        elif gjson.holds(success, body):
            exit = TrialExit(name, 0, at=utc_now())
        else:
            return
        self._report(name, exit, ended=True)

    def settle(self, trial: str, interruptible: bool = False) -> bool:
        """Wait (a while) until the ended trial's output is all in its files; then its
        workload is deleted (unless retained), on a request thread. `interruptible`:
        return False instead, as soon as another exit waits to be heard."""
        with self._lock:
            followers, resource, deadline = self._ending.get(trial, ([], None, 0.0))
        with self._settling:
            while not all(follower.done for follower in followers):
                if interruptible and not self._exits.empty():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._settling.wait(left)
        with self._lock:
            self._ending.pop(trial, None)
            if self._pods is not None:
                self._pods.pop(trial, None)  # its pods' later events come and go
        for follower in followers:
            follower.stop()
        if resource is not None and not self.retain:
            self._requests.submit(DELETE, self._delete, trial, resource)
        return True

    def _changed(self) -> None:
        with self._settling:
            self._settling.notify_all()

    def _delete(self, trial: str, resource: Resource) -> None:
        try:
            self.kube.delete(resource, self.namespace, trial, propagation="Foreground")
        except KubeError as err:
            log.warning("trial %s: could not delete its %s: %s", trial, resource.kind, err)

    def _report(self, trial: str, exit: TrialExit, ended: bool = False) -> None:
        """Tell the engine of the exit, once. A workload that `ended` is told at once, its
        output still being read to the end: the run waits for that (`settle`) before it
        reads the result, and the workload is deleted after."""
        with self._lock:
            if trial in self._reported:
                return
            self._reported.add(trial)  # told once, whatever else comes meanwhile
            resource = self._running.get(trial)
            followers = self._followers.pop(trial, [])
            if ended:
                self._ending[trial] = (followers, resource, time.monotonic() + FINISH_WAIT)
            elif self._pods is not None:
                self._pods.pop(trial, None)  # its pods' later events come and go
        if self.pushes is not None:
            self.pushes.forget(self.namespace, trial)
        for follower in followers:
            if ended:
                follower.end()  # its last lines are read meanwhile
            else:
                follower.stop()
        self._exits.put(exit)
        self._changed()  # a run waiting for another trial's output hears of it


def _uid(body: Object) -> str:
    return str((body.get("metadata") or {}).get("uid") or "")


def _why(found: Any) -> tuple[str, str]:
    """The reason and message of the first element a failure condition selected, as Katib
    reads them into the Trial's condition."""
    first = found[0] if isinstance(found, list) and found else found
    if isinstance(first, dict):
        return str(first.get("reason") or ""), str(first.get("message") or "")
    return "", ""
