"""The parts of a cluster that are not the API server, simulated on a FakeKubernetes: the
job controllers (batch Jobs, the Kubeflow training jobs, Argo Workflows, Tekton
PipelineRuns) make pods for each workload, and the kubelet runs each pod's containers as
real local processes, writing their output as the pod's log and their ends into the pod's
status; the job controllers then write the workload's status as the real ones do
(Job: Complete/Failed conditions; Kubeflow: Succeeded/Failed; Argo: status.phase; Tekton:
the Succeeded condition True/False).

Native sidecars (init containers with `restartPolicy: Always`) start before the main
containers, which wait for a sidecar's exec startup probe to pass. They run beside them,
and are stopped with SIGTERM once the main containers have ended; their states are in
`initContainerStatuses`. An emptyDir volume is a folder of the pod's own: the mount paths
in a container's arguments, environment and probe are replaced by it, as a pod's
filesystem would put them there.

Knobs: `schedulable = False` leaves new pods Pending (Unschedulable), `runner` replaces
running a process (a function of the container giving (lines, exit code)), `entrypoints`
gives an image's entrypoint (argv) for containers that have only `args`, and `scratch`
holds the pods' emptyDir folders."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.files import yamlio
from tests.kubeapi import FakeKubernetes, Kind, now

Runner = Callable[[dict[str, Any]], tuple[list[str], int]]
EXAMPLES = Path(__file__).parent / "katib" / "examples"


def loss_runner(container: dict[str, Any]) -> tuple[list[str], int]:
    """A trial that prints a loss that follows from its arguments, and exits 0."""
    words = " ".join(str(a) for a in [*container.get("command", []), *container.get("args", [])])
    return [f"loss={1 / (2 + len(words)):.6f}"], 0


def random_experiment(name: str, namespace: str, trials: int, parallel: int) -> dict[str, Any]:
    """Katib's random-search example as an Experiment object: objective `loss` from StdOut,
    `trials` trials, `parallel` at a time."""
    document = yamlio.load((EXAMPLES / "hp-tuning" / "random.yaml").read_text())
    spec = document["spec"]
    spec["objective"] = {"type": "minimize", "objectiveMetricName": "loss"}
    spec["metricsCollectorSpec"] = {"collector": {"kind": "StdOut"}}
    spec["maxTrialCount"], spec["parallelTrialCount"] = trials, parallel
    spec.pop("maxFailedTrialCount", None)
    document["metadata"] = {"name": name, "namespace": namespace}
    return document  # type: ignore[no-any-return]


_REPLICAS = {
    "PyTorchJob": ("pytorchReplicaSpecs", ("Master",)),
    "TFJob": ("tfReplicaSpecs", ("Chief", "Master")),
    "XGBoostJob": ("xgbReplicaSpecs", ("Master",)),
    "MPIJob": ("mpiReplicaSpecs", ("Launcher",)),
}


class ClusterSimulation:
    def __init__(
        self,
        fake: FakeKubernetes,
        runner: Runner | None = None,
        entrypoints: dict[str, list[str]] | None = None,
        scratch: Path | None = None,
    ):
        self.fake = fake
        self.runner = runner
        self.entrypoints = entrypoints or {}
        self.scratch = scratch
        self.schedulable = True
        self.pods_made = 0
        self._events: queue.Queue[tuple[str, Kind, dict[str, Any]] | None] = queue.Queue()
        self._processes: dict[tuple[str, str], subprocess.Popen[str]] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pods = fake.kind_of("v1", "Pod")

    def start(self) -> ClusterSimulation:
        self.fake.listeners.append(self._heard)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._events.put(None)
        for process in list(self._processes.values()):
            process.kill()

    def _heard(self, event: str, kind: Kind, body: dict[str, Any]) -> None:
        self._events.put((event, kind, body))

    def _run(self) -> None:
        while not self._stopped.is_set():
            item = self._events.get()
            if item is None:
                return
            event, kind, body = item
            if event == "ADDED" and kind.kind in (*_REPLICAS, "Job", "Workflow", "PipelineRun"):
                threading.Thread(target=self._workload, args=(kind, body), daemon=True).start()
            if event == "DELETED" and kind.kind == "Pod":
                key = (body["metadata"]["namespace"], body["metadata"]["name"])
                process = self._processes.pop(key, None)
                if process is not None:
                    process.kill()

    # -- job controllers ---------------------------------------------------------------------

    def _workload(self, kind: Kind, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        name = body["metadata"]["name"]
        pods = self._pods_of(body)
        deadline = (body.get("spec") or {}).get("activeDeadlineSeconds")
        self._set_status(kind, namespace, name, {"startTime": now(), **_running(body)})
        results: list[int | None] = [None] * len(pods)
        threads = []
        for index, (pod_name, labels, template) in enumerate(pods):
            pod = self._make_pod(body, pod_name, labels, template)
            if pod is None:
                return  # the workload is gone
            thread = threading.Thread(target=self._kubelet, args=(pod, results, index), daemon=True)
            thread.start()
            threads.append(thread)
        ends = time.monotonic() + float(deadline) if deadline else None
        for thread in threads:
            while thread.is_alive():
                thread.join(0.05)
                if self.fake.get(kind, namespace, name) is None:
                    return
                if ends is not None and time.monotonic() > ends:
                    for pod_name, _, _ in pods:
                        process = self._processes.pop((namespace, pod_name), None)
                        if process is not None:
                            process.kill()
                    self._set_status(kind, namespace, name, _ended(body, False, "DeadlineExceeded"))
                    return
        ok = all(code == 0 for code in results)
        self._set_status(
            kind, namespace, name, _ended(body, ok, "" if ok else "BackoffLimitExceeded")
        )

    def _pods_of(self, body: dict[str, Any]) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
        kind, name, spec = body["kind"], body["metadata"]["name"], body.get("spec") or {}
        short = uuid.uuid4().hex[:5]
        if kind == "Job":
            template = spec["template"]
            labels = {**(template.get("metadata") or {}).get("labels", {}), "job-name": name}
            return [(f"{name}-{short}", labels, template)]
        if kind in _REPLICAS:
            field, primary = _REPLICAS[kind]
            pods = []
            for role, replica in (spec.get(field) or {}).items():
                template = replica["template"]
                for index in range(int(replica.get("replicas", 1))):
                    labels = {
                        **((template.get("metadata") or {}).get("labels") or {}),
                        "training.kubeflow.org/job-name": name,
                        "training.kubeflow.org/replica-type": role.lower(),
                        "training.kubeflow.org/replica-index": str(index),
                    }
                    if role in primary:
                        labels["training.kubeflow.org/job-role"] = "master"
                    if kind == "MPIJob":
                        labels["mpi-job-role"] = role.lower()
                    pods.append((f"{name}-{role.lower()}-{index}", labels, template))
            return pods
        if kind == "Workflow":
            shared = (spec.get("podMetadata") or {}).get("labels") or {}
            pods = []
            for template in spec.get("templates") or []:
                container = template.get("container")
                if container is None:
                    continue
                labels = {
                    **shared,
                    **((template.get("metadata") or {}).get("labels") or {}),
                    "workflows.argoproj.io/workflow": name,
                }
                pod_spec = {"containers": [{**container, "name": "main"}]}
                pods.append((f"{name}-{template['name']}-{short}", labels, {"spec": pod_spec}))
            return pods
        # PipelineRun: a pod per task, a container per step; labels from the run
        pods = []
        run_labels = body["metadata"].get("labels") or {}
        for task in (spec.get("pipelineSpec") or {}).get("tasks") or []:
            steps = (task.get("taskSpec") or {}).get("steps") or []
            containers = [{**step, "name": f"step-{step['name']}"} for step in steps]
            labels = {**run_labels, "tekton.dev/pipelineTask": task["name"]}
            pods.append(
                (f"{name}-{task['name']}-pod", labels, {"spec": {"containers": containers}})
            )
        return pods

    def _make_pod(
        self, owner: dict[str, Any], name: str, labels: dict[str, str], template: dict[str, Any]
    ) -> dict[str, Any] | None:
        namespace = owner["metadata"]["namespace"]
        current = self.fake.get(
            self.fake.kind_of(owner["apiVersion"], owner["kind"]),
            namespace,
            owner["metadata"]["name"],
        )
        if current is None:
            return None
        body = {
            "metadata": {
                "name": name,
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": owner["apiVersion"],
                        "kind": owner["kind"],
                        "name": owner["metadata"]["name"],
                        "uid": current["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": template["spec"],
        }
        self.pods_made += 1
        created = self.fake.create(self._pods, namespace, body)
        self._pod_status(namespace, name, {"phase": "Pending"})
        return created

    # -- the kubelet ---------------------------------------------------------------------------

    def _kubelet(self, pod: dict[str, Any], results: list[int | None], index: int) -> None:
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        while not self.schedulable:
            self._pod_status(
                namespace,
                name,
                {
                    "phase": "Pending",
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
                    ],
                },
            )
            if self._stopped.wait(0.2) or self.fake.get(self._pods, namespace, name) is None:
                return
        spec = self._mounted(namespace, name, pod["spec"])
        sidecars = [
            self._sidecar(namespace, name, c)
            for c in spec.get("initContainers") or []
            if c.get("restartPolicy") == "Always"
        ]
        codes = []
        for container in spec["containers"]:  # one after the other: enough for the tests
            self._container_state(
                namespace, name, container["name"], {"running": {"startedAt": now()}}
            )
            code = self._run_container(namespace, name, container)
            self.fake.end_log(namespace, name, container["name"])
            self._container_state(
                namespace, name, container["name"], {"terminated": {"exitCode": code}}
            )
            codes.append(code)
        for sidecar, process, reader in sidecars:  # the main containers ended: stopped
            process.terminate()
            process.wait(timeout=30)
            reader.join(timeout=30)
            self.fake.end_log(namespace, name, sidecar)
            self._container_state(
                namespace, name, sidecar, {"terminated": {"exitCode": 0}}, init=True
            )
        ok = all(c == 0 for c in codes)
        self._pod_status(namespace, name, {"phase": "Succeeded" if ok else "Failed"})
        results[index] = 0 if ok else 1

    def _mounted(self, namespace: str, pod: str, spec: dict[str, Any]) -> dict[str, Any]:
        """The pod's spec with each emptyDir mount's path, in its containers' arguments
        and environment, replaced by a folder of the pod's own."""
        empty = {v["name"] for v in spec.get("volumes") or [] if "emptyDir" in v}
        if not empty:
            return spec
        assert self.scratch is not None, "emptyDir volumes need ClusterSimulation(scratch=)"
        folders = {}
        for volume in empty:
            folder = self.scratch / namespace / pod / volume
            folder.mkdir(parents=True, exist_ok=True)
            folders[volume] = str(folder)

        def moved(container: dict[str, Any]) -> dict[str, Any]:
            pairs = [
                (m["mountPath"], folders[m["name"]])
                for m in container.get("volumeMounts") or []
                if m["name"] in folders
            ]

            if not pairs:
                return container
            local_of = dict(pairs)
            # One pass, longest mount first, whole path segments only: a local folder put
            # in is never moved again.
            mounts = sorted(local_of, key=len, reverse=True)
            pattern = re.compile("|".join(f"{re.escape(m)}(?![\\w.-])" for m in mounts))

            def move(text: str) -> str:
                return pattern.sub(lambda found: local_of[found.group(0)], text)

            probe = (container.get("startupProbe") or {}).get("exec")
            moved_probe = (
                {"startupProbe": {"exec": {"command": [move(a) for a in probe["command"]]}}}
                if probe
                else {}
            )
            return {
                **container,
                **moved_probe,
                "args": [move(str(a)) for a in container.get("args") or []],
                "command": [move(str(a)) for a in container.get("command") or []],
                "env": [
                    {**e, "value": move(str(e.get("value", "")))}
                    for e in container.get("env") or []
                ],
            }

        return {
            **spec,
            "containers": [moved(c) for c in spec["containers"]],
            "initContainers": [moved(c) for c in spec.get("initContainers") or []],
        }

    def _argv(self, container: dict[str, Any]) -> list[str]:
        command = container.get("command") or self.entrypoints.get(container.get("image", ""), [])
        return [*command, *(container.get("args") or [])]

    def _start(self, container: dict[str, Any]) -> subprocess.Popen[str]:
        """The container as a local process, its output (and errors) on a pipe."""
        given = {e["name"]: str(e.get("value", "")) for e in container.get("env") or []}
        return subprocess.Popen(
            self._argv(container),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **given},
        )

    def _sidecar(
        self, namespace: str, pod: str, container: dict[str, Any]
    ) -> tuple[str, subprocess.Popen[str], threading.Thread]:
        """A native sidecar started: its name, its process, the thread that logs it."""
        name = container["name"]
        process = self._start(container)
        self._container_state(namespace, pod, name, {"running": {"startedAt": now()}}, init=True)

        def read() -> None:
            assert process.stdout is not None
            with process.stdout:
                for line in process.stdout:
                    self.fake.log(namespace, pod, name, line.rstrip("\n"))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        probe = (container.get("startupProbe") or {}).get("exec")
        ends = time.monotonic() + 60
        while probe and subprocess.run(probe["command"], check=False).returncode:
            assert time.monotonic() < ends and process.poll() is None, f"{name} never started"
            time.sleep(0.05)  # the kubelet starts the next containers once it has started
        return name, process, reader

    def _run_container(self, namespace: str, pod: str, container: dict[str, Any]) -> int:
        if self.runner is not None:
            lines, code = self.runner(container)
            for line in lines:
                self.fake.log(namespace, pod, container["name"], line)
            return code
        process = self._start(container)
        self._processes[(namespace, pod)] = process
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                self.fake.log(namespace, pod, container["name"], line.rstrip("\n"))
        code = process.wait()
        self._processes.pop((namespace, pod), None)
        return code

    def _container_state(
        self, namespace: str, pod: str, container: str, state: dict[str, Any], init: bool = False
    ) -> None:
        field = "initContainerStatuses" if init else "containerStatuses"

        def change(body: dict[str, Any]) -> None:
            status = body.setdefault("status", {})
            statuses = [s for s in status.get(field) or [] if s["name"] != container]
            statuses.append({"name": container, "state": state, "restartCount": 0})
            status[field] = statuses
            if "running" in state:
                status["phase"] = "Running"

        self.fake.update(self._pods, namespace, pod, change)

    def _pod_status(self, namespace: str, pod: str, fields: dict[str, Any]) -> None:
        self.fake.update(
            self._pods, namespace, pod, lambda body: body.setdefault("status", {}).update(fields)
        )

    def _set_status(self, kind: Kind, namespace: str, name: str, fields: dict[str, Any]) -> None:
        self.fake.update(
            kind, namespace, name, lambda body: body.setdefault("status", {}).update(fields)
        )


def _running(body: dict[str, Any]) -> dict[str, Any]:
    kind = body["kind"]
    if kind == "Workflow":
        return {"phase": "Running"}
    if kind == "PipelineRun":
        return {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]}
    if kind in _REPLICAS:
        return {"conditions": [{"type": "Running", "status": "True", "reason": "JobRunning"}]}
    return {"active": 1}


def _ended(body: dict[str, Any], ok: bool, reason: str) -> dict[str, Any]:
    kind = body["kind"]
    if kind == "Workflow":
        return {"phase": "Succeeded" if ok else "Failed"}
    if kind == "PipelineRun":
        return {
            "conditions": [
                {
                    "type": "Succeeded",
                    "status": "True" if ok else "False",
                    "reason": "Succeeded" if ok else "Failed",
                }
            ]
        }
    if kind in _REPLICAS:
        kind_type = "Succeeded" if ok else "Failed"
        return {
            "conditions": [
                {"type": "Running", "status": "False", "reason": "JobRunning"},
                {
                    "type": kind_type,
                    "status": "True",
                    "reason": reason or "JobSucceeded",
                    "message": f"{body['kind']} {body['metadata']['name']} ended",
                },
            ]
        }
    if ok:
        return {"active": 0, "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    return {
        "active": 0,
        "failed": 1,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": reason,
                "message": "Job has reached the specified backoff limit"
                if reason == "BackoffLimitExceeded"
                else "Job was active longer than specified deadline",
            }
        ],
    }
