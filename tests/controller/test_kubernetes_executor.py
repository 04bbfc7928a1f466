"""Trials as Kubernetes workloads, against the fake API server (tests/kubeapi.py) with the
job controllers and the kubelet simulated (tests/kubesim.py): every trial kind of Katib's
examples runs through the same engine as local trials, named, labelled and owned as Katib
does it, judged by the template's conditions, deleted when done; faults of the API and of
the cluster cost no trial."""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.core.records import ExperimentRecord, TrialExit, TrialState
from controller.engine.loop import run_experiment, utc_now
from controller.errors import ControllerError
from controller.executors.kubernetes import executor as executor_module
from controller.executors.kubernetes import following
from controller.executors.kubernetes.executor import EXPERIMENT_LABEL, KubernetesExecutor
from controller.kube.api import Kube, Resource
from controller.kube.watching import SharedWatches
from controller.ports import TrialExecutor
from controller.sinks.git.repo import GitRepo
from controller.sinks.git.sink import GitStatusSink
from generator.files import yamlio
from generator.katib.defaults import with_defaults
from generator.katib.models import Experiment
from tests.kubeapi import FakeKubernetes
from tests.kubesim import ClusterSimulation

EXAMPLES = Path(__file__).parent.parent / "katib" / "examples"
KINDS = {
    "Job": "hp-tuning/random.yaml",
    "PyTorchJob": "kubeflow-training-operator/pytorchjob-mnist.yaml",
    "TFJob": "kubeflow-training-operator/tfjob-mnist-with-summaries.yaml",
    "XGBoostJob": "kubeflow-training-operator/xgboostjob-lightgbm.yaml",
    "MPIJob": "kubeflow-training-operator/mpijob-horovod.yaml",
    "Workflow": "argo/argo-workflow.yaml",
    "PipelineRun": "tekton/pipeline-run.yaml",
}


def loss_runner(container: dict[str, Any]) -> tuple[list[str], int]:
    """Every container prints a loss from its arguments' length, then exits 0."""
    words = " ".join(str(a) for a in [*container.get("command", []), *container.get("args", [])])
    return [f"epoch 1 loss={1 / (1 + len(words)):.6f}", f"loss={1 / (2 + len(words)):.6f}"], 0


@pytest.fixture
def cluster() -> Iterator[tuple[FakeKubernetes, ClusterSimulation, Kube]]:
    fake = FakeKubernetes(bookmark_every=0.2).start()
    simulation = ClusterSimulation(fake, runner=loss_runner).start()
    try:
        yield fake, simulation, Kube.connect(fake.url)
    finally:
        simulation.stop()
        fake.close()


def katib_example(path: str, trials: int = 2) -> Experiment:
    """A Katib example, its objective `loss` read from StdOut, sized for a test."""
    document = yamlio.load((EXAMPLES / path).read_text())
    spec = document["spec"]
    spec["objective"] = {"type": "minimize", "objectiveMetricName": "loss"}
    spec["metricsCollectorSpec"] = {"collector": {"kind": "StdOut"}}
    spec["maxTrialCount"] = trials
    spec["parallelTrialCount"] = 2
    spec.pop("maxFailedTrialCount", None)
    spec["algorithm"] = {
        "algorithmName": "random",
        "algorithmSettings": [{"name": "random_state", "value": "3"}],
    }
    document["metadata"]["namespace"] = "team"
    return with_defaults(Experiment.model_validate(document))


def executor_for(kube: Kube, spec: Experiment, root: Path, **extra: Any) -> KubernetesExecutor:
    return KubernetesExecutor(kube, spec, "team", root / "logs", **extra)


def as_port(executor: KubernetesExecutor) -> TrialExecutor:
    return executor  # mypy checks that it implements the port


def run(spec: Experiment, executor: KubernetesExecutor, root: Path) -> ExperimentRecord:
    try:
        return run_experiment(
            spec,
            environment="prod",
            executor=as_port(executor),
            sink=GitStatusSink(GitRepo(root), "prod"),
        )
    finally:
        executor.shutdown()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_trial_kind_of_katibs_examples_runs_as_its_own_workload(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path, kind: str
) -> None:
    fake, _simulation, kube = cluster
    spec = katib_example(KINDS[kind])
    created: list[dict[str, Any]] = []
    fake.listeners.append(
        lambda event, k, body: created.append(body) if event == "ADDED" and k.kind == kind else None
    )
    record = run(spec, executor_for(kube, spec, tmp_path, retain=False), tmp_path)

    assert [t.state for t in record.trials] == [TrialState.SUCCEEDED] * 2
    assert all(t.metrics and t.metrics[0].name == "loss" for t in record.trials)
    names = sorted(body["metadata"]["name"] for body in created)
    assert names == sorted(t.name for t in record.trials)
    for body in created:
        labels = body["metadata"]["labels"]
        assert labels["katib.kubeflow.org/experiment"] == spec.name
        assert labels["katib.kubeflow.org/trial"] == body["metadata"]["name"]
        assert "${trialParameters" not in str(body)  # the values are in the object
    # deleted once done (retain false), and their pods with them
    assert fake.items(fake.kind_of(created[0]["apiVersion"], kind), "team") == []
    assert fake.items(fake.kind_of("v1", "Pod"), "team") == []


def test_a_trial_is_owned_by_its_experiment_and_kept_with_retain(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path
) -> None:
    fake, _, kube = cluster
    spec = katib_example(KINDS["Job"])
    experiments = fake.kind_of("kubeflow.org/v1beta1", "Experiment")
    owner = fake.create(experiments, "team", {"metadata": {"name": spec.name}, "spec": {}})
    record = run(spec, executor_for(kube, spec, tmp_path, owner=owner, retain=True), tmp_path)

    jobs = fake.items(fake.kind_of("batch/v1", "Job"), "team")
    assert sorted(j["metadata"]["name"] for j in jobs) == [t.name for t in record.trials]
    for job in jobs:
        (reference,) = job["metadata"]["ownerReferences"]
        assert reference["uid"] == owner["metadata"]["uid"] and reference["controller"] is True
    fake.delete(experiments, "team", spec.name)  # garbage collection takes its trials
    assert fake.items(fake.kind_of("batch/v1", "Job"), "team") == []


def test_a_value_with_quotes_and_backslashes_reaches_the_object_unbroken(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path
) -> None:
    fake, _, kube = cluster
    spec = katib_example(KINDS["Job"], trials=1)
    template = spec.spec.trial_template
    assert template is not None and template.trial_spec is not None
    seen: list[dict[str, Any]] = []
    fake.listeners.append(
        lambda e, k, b: seen.append(b) if e == "ADDED" and k.kind == "Job" else None
    )
    executor = executor_for(kube, spec, tmp_path)
    from controller.core.trialspec import Command

    hostile = copy.deepcopy(template.trial_spec)
    hostile["spec"]["template"]["spec"]["containers"][0]["args"] = ['--x="a\\b"', "}{"]
    executor.start(f"{spec.name}-0001", Command((), (), None, manifest=lambda: hostile))
    exited = executor.next_exit(timeout=10)
    executor.shutdown()
    assert exited is not None and exited.exit_code == 0
    assert seen[0]["spec"]["template"]["spec"]["containers"][0]["args"] == ['--x="a\\b"', "}{"]


def test_a_failed_workload_fails_its_trial_with_the_reason_its_condition_gives(
    tmp_path: Path,
) -> None:
    fake = FakeKubernetes(bookmark_every=0.2).start()
    simulation = ClusterSimulation(fake, runner=lambda c: (["loss=0.1"], 3)).start()
    try:
        spec = katib_example(KINDS["Job"], trials=1)
        record = run(spec, executor_for(Kube.connect(fake.url), spec, tmp_path), tmp_path)
    finally:
        simulation.stop()
        fake.close()
    (trial,) = record.trials
    assert trial.state is TrialState.FAILED
    assert trial.reason == "TrialFailed. Job reason: BackoffLimitExceeded"


def test_a_pod_that_never_schedules_is_pending_not_failed_until_the_deadline(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path
) -> None:
    _fake, simulation, kube = cluster
    simulation.schedulable = False
    spec = katib_example(KINDS["Job"], trials=1)
    executor = executor_for(kube, spec, tmp_path)
    from controller.core.trialspec import Command

    template = spec.spec.trial_template
    assert template is not None and template.trial_spec is not None
    job = copy.deepcopy(template.trial_spec)
    executor.start(f"{spec.name}-0001", Command((), (), None, manifest=lambda: job))
    assert executor.next_exit(timeout=1.5) is None  # pending: no exit
    job2 = copy.deepcopy(job)
    job2["spec"]["activeDeadlineSeconds"] = 1
    executor.start(f"{spec.name}-0002", Command((), (), None, manifest=lambda: job2))
    exited = executor.next_exit(timeout=10)
    executor.shutdown()
    assert exited is not None and exited.trial.endswith("0002")
    assert exited.deadline_exceeded and exited.reason == "DeadlineExceeded"


def test_api_errors_and_dropped_watches_cost_no_trial(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path
) -> None:
    fake, _, kube = cluster
    spec = katib_example(KINDS["Job"], trials=6)
    fake.fail("GET", r"/pods$", 500, times=3)
    fake.fail("GET", r"/jobs$", 500, times=2)
    fake.fail("POST", r"/jobs$", 503, times=2)  # a create tried again
    fake.fail("DELETE", r"/jobs/", 500, times=2)

    def disturb() -> None:
        for _ in range(6):
            time.sleep(0.3)
            fake.drop_watches()
        fake.compact()  # and one 410: a list again

    threading.Thread(target=disturb, daemon=True).start()
    record = run(spec, executor_for(kube, spec, tmp_path), tmp_path)
    assert [t.state for t in record.trials] == [TrialState.SUCCEEDED] * 6


def test_a_restarted_controller_adopts_running_trials_instead_of_creating_them_again(
    tmp_path: Path,
) -> None:
    fake = FakeKubernetes(bookmark_every=0.2).start()
    release = threading.Event()

    def slow(container: dict[str, Any]) -> tuple[list[str], int]:
        release.wait(20)
        return ["loss=0.25"], 0

    simulation = ClusterSimulation(fake, runner=slow).start()
    try:
        kube = Kube.connect(fake.url)
        spec = katib_example(KINDS["Job"], trials=1)
        template = spec.spec.trial_template
        assert template is not None and template.trial_spec is not None
        job = copy.deepcopy(template.trial_spec)
        from controller.core.trialspec import Command

        first = executor_for(kube, spec, tmp_path / "a")
        first.start(f"{spec.name}-0001", Command((), (), None, manifest=lambda: job))
        first.detach()
        first.stop(f"{spec.name}-0001")  # the controller goes: the Job stays
        first.shutdown()
        assert fake.get(fake.kind_of("batch/v1", "Job"), "team", f"{spec.name}-0001")

        second = executor_for(kube, spec, tmp_path / "b")
        path = second.start(f"{spec.name}-0001", Command((), (), None, manifest=lambda: job))
        release.set()
        exited = second.next_exit(timeout=10)
        assert exited is not None
        second.settle(exited.trial)  # its output all read, as the run waits for
        second.shutdown()
        assert exited is not None and exited.exit_code == 0
        assert "loss=0.25" in path.read_text()
        assert simulation.pods_made == 1  # one workload, one pod: nothing ran twice
    finally:
        simulation.stop()
        fake.close()


def test_a_workload_an_earlier_experiment_of_its_name_left_is_replaced_not_adopted(
    tmp_path: Path,
) -> None:
    """Deleted and made again, an Experiment finds its first trial's name taken by the
    earlier object's workload, failed and not yet collected: that one is deleted and the
    trial made anew, its own result read; the earlier one's is not taken for it."""
    fake = FakeKubernetes(bookmark_every=0.2).start()
    spec = katib_example(KINDS["Job"], trials=1)
    trial = f"{spec.name}-0001"
    jobs = fake.kind_of("batch/v1", "Job")
    experiments = fake.kind_of("kubeflow.org/v1beta1", "Experiment")
    owner = fake.create(
        experiments,
        "team",
        {
            "apiVersion": "kubeflow.org/v1beta1",
            "kind": "Experiment",
            "metadata": {"name": spec.name},
        },
    )
    earlier = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "name": spec.name}
    fake.create(
        jobs,
        "team",
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": trial,
                "labels": {EXPERIMENT_LABEL: spec.name},
                "ownerReferences": [{**earlier, "uid": "an-earlier-uid"}],
            },
            "spec": {"template": {"spec": {"containers": []}}},
            "status": {"conditions": [{"type": "Failed", "status": "True"}]},
        },
    )
    simulation = ClusterSimulation(fake, runner=lambda _: (["loss=0.25"], 0)).start()
    try:
        executor = executor_for(Kube.connect(fake.url), spec, tmp_path, owner=owner)
        template = spec.spec.trial_template
        assert template is not None and template.trial_spec is not None
        job = copy.deepcopy(template.trial_spec)
        from controller.core.trialspec import Command

        path = executor.start(trial, Command((), (), None, manifest=lambda: job))
        exited = executor.next_exit(timeout=20)
        assert exited is not None and exited.exit_code == 0
        executor.settle(exited.trial)
        executor.shutdown()
        assert "loss=0.25" in path.read_text()
        assert simulation.pods_made == 1
    finally:
        simulation.stop()
        fake.close()


def test_a_leftover_workload_that_stays_in_the_way_is_a_clear_error(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An earlier Experiment's workload that a finalizer of someone else's keeps: the run
    stops, saying which workload is in the way and what to do."""
    fake, _, kube = cluster
    monkeypatch.setattr(executor_module, "LEFTOVER_WAIT", 1.0)
    spec = katib_example(KINDS["Job"], trials=1)
    experiments = fake.kind_of("kubeflow.org/v1beta1", "Experiment")
    owner = fake.create(experiments, "team", {"metadata": {"name": spec.name}})
    fake.create(
        fake.kind_of("batch/v1", "Job"),
        "team",
        {
            "metadata": {
                "name": f"{spec.name}-0001",
                "labels": {EXPERIMENT_LABEL: spec.name},
                "ownerReferences": [{"kind": "Experiment", "uid": "an-earlier-uid"}],
                "finalizers": ["example.com/keep"],
            },
            "spec": {"template": {"spec": {"containers": []}}},
        },
    )
    executor = executor_for(kube, spec, tmp_path, owner=owner)
    template = spec.spec.trial_template
    assert template is not None and template.trial_spec is not None
    job = copy.deepcopy(template.trial_spec)
    from controller.core.trialspec import Command

    executor.start(f"{spec.name}-0001", Command((), (), None, manifest=lambda: job))
    with pytest.raises(ControllerError, match=r"earlier Experiment .* still in the way"):
        executor.next_exit(timeout=10)
    executor.shutdown()


def test_a_name_taken_by_another_experiments_object_is_a_clear_error(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path
) -> None:
    fake, _, kube = cluster
    spec = katib_example(KINDS["Job"], trials=1)
    jobs = fake.kind_of("batch/v1", "Job")
    fake.create(
        jobs,
        "team",
        {
            "metadata": {"name": f"{spec.name}-0001"},
            "spec": {"template": {"spec": {"containers": []}}},
        },
    )
    executor = executor_for(kube, spec, tmp_path)
    template = spec.spec.trial_template
    assert template is not None and template.trial_spec is not None
    job = copy.deepcopy(template.trial_spec)
    from controller.core.trialspec import Command

    executor.start(f"{spec.name}-0001", Command((), (), None, manifest=lambda: job))
    with pytest.raises(ControllerError, match="is not this experiment's"):
        executor.next_exit(timeout=10)  # the run hears of it at its next look for an exit
    executor.shutdown()


def test_a_create_the_cluster_refuses_stops_the_experiment_with_its_words(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path
) -> None:
    """An admission webhook or a quota says no: the run stops with the cluster's words, and
    nothing is left behind."""
    fake, _, kube = cluster
    fake.fail("POST", r"/jobs$", status=403, times=100)
    spec = katib_example(KINDS["Job"], trials=4)
    with pytest.raises(ControllerError, match=r"the cluster refused its Job: .*injected"):
        run(spec, executor_for(kube, spec, tmp_path), tmp_path)
    assert fake.items(fake.kind_of("batch/v1", "Job"), "team") == []


def test_logs_are_followed_while_the_trial_runs(tmp_path: Path) -> None:
    """Real processes in the simulated pods: the output reaches the local file while the
    trial runs, so median stopping can read it."""
    fake = FakeKubernetes(bookmark_every=0.2).start()
    simulation = ClusterSimulation(fake).start()  # runs the container's command for real
    try:
        spec = katib_example(KINDS["Job"], trials=1)
        template = spec.spec.trial_template
        assert template is not None and template.trial_spec is not None
        job = copy.deepcopy(template.trial_spec)
        container = job["spec"]["template"]["spec"]["containers"][0]
        script = (
            "import time\n"
            "for i in range(30):\n"
            "    print(f'loss={1/(i+1)}', flush=True); time.sleep(0.05)"
        )
        container["command"], container["args"] = [sys.executable, "-c", script], []
        executor = executor_for(Kube.connect(fake.url), spec, tmp_path)
        from controller.core.trialspec import Command

        path = executor.start(f"{spec.name}-0001", Command((), (), None, manifest=lambda: job))
        seen: list[int] = []
        exited = None
        while exited is None:
            exited = executor.next_exit(timeout=0.1)
            if exited is None:
                seen.append(path.read_text().count("loss="))
        executor.settle(exited.trial)
        executor.shutdown()
        assert any(0 < count < 30 for count in seen)  # part of it, while it ran
        assert path.read_text().count("loss=") == 30  # every line, once
    finally:
        simulation.stop()
        fake.close()


def test_a_kind_without_conditions_is_refused_before_anything_is_created(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path
) -> None:
    fake, _, kube = cluster
    spec = katib_example(KINDS["Workflow"], trials=1)
    template = spec.spec.trial_template
    assert template is not None
    bare = spec.model_copy(
        update={
            "spec": spec.spec.model_copy(
                update={
                    "trial_template": template.model_copy(
                        update={"success_condition": None, "failure_condition": None}
                    )
                }
            )
        }
    )
    executor = executor_for(kube, bare, tmp_path)
    from controller.core.trialspec import Command

    with pytest.raises(ControllerError, match="needs successCondition and failureCondition"):
        executor.start(
            f"{spec.name}-0001", Command((), (), None, manifest=lambda: template.trial_spec or {})
        )
    executor.shutdown()
    assert fake.items(fake.kind_of("argoproj.io/v1alpha1", "Workflow")) == []


def test_resource_paths_for_core_and_grouped_kinds() -> None:
    assert Resource.of("v1", "Pod").path("a", "p", "log") == "/api/v1/namespaces/a/pods/p/log"
    assert Resource.of("batch/v1", "Job").path("a") == "/apis/batch/v1/namespaces/a/jobs"
    assert Resource.of("coordination.k8s.io/v1", "Lease").plural == "leases"


def test_a_collector_that_does_not_run_in_the_cluster_is_said_before_any_trial(
    cluster: tuple[FakeKubernetes, ClusterSimulation, Kube], tmp_path: Path
) -> None:
    _, _, kube = cluster
    document = yamlio.load(
        (EXAMPLES / "metrics-collector" / "custom-metrics-collector.yaml").read_text()
    )
    spec = with_defaults(Experiment.model_validate(document))
    with pytest.raises(ControllerError, match="Custom metrics collector does not run in the"):
        KubernetesExecutor(kube, spec, "team", tmp_path)


def _hand_run_job(
    tmp_path: Path, fake: FakeKubernetes | None = None, shared: SharedWatches | None = None
) -> tuple[FakeKubernetes, KubernetesExecutor, str, Path]:
    """A Job trial started with no simulated cluster: the test plays the job controller
    and the kubelet itself, step by step. `shared`: the watches the executor hears of pods
    through (as under serve) rather than listing them."""
    from controller.core.trialspec import Command

    fake = fake or FakeKubernetes(bookmark_every=0.2).start()
    spec = katib_example(KINDS["Job"], trials=1)
    template = spec.spec.trial_template
    assert template is not None and template.trial_spec is not None
    job = copy.deepcopy(template.trial_spec)
    executor = executor_for(Kube.connect(fake.url), spec, tmp_path, shared=shared)
    trial = f"{spec.name}-0001"
    path = executor.start(trial, Command((), (), None, manifest=lambda: job))
    labels = {"katib.kubeflow.org/trial": trial, EXPERIMENT_LABEL: spec.name}
    pod = {
        "metadata": {"name": f"{trial}-pod", "labels": labels},
        "spec": {"containers": [{"name": template.primary_container_name}]},
    }
    fake.create(fake.kind_of("v1", "Pod"), "team", pod)
    return fake, executor, trial, path


@contextlib.contextmanager
def _served_job(
    tmp_path: Path,
) -> Iterator[tuple[FakeKubernetes, KubernetesExecutor, str, Path]]:
    """A hand-run Job trial whose executor hears of pods through shared watches, as under
    serve; everything stopped after, the server last."""
    fake = FakeKubernetes(bookmark_every=0.2).start()
    watches = SharedWatches(Kube.connect(fake.url), "team", EXPERIMENT_LABEL)
    fake, executor, trial, path = _hand_run_job(tmp_path, fake, watches)
    try:
        yield fake, executor, trial, path
    finally:
        executor.shutdown()
        watches.stop()  # before the server goes: no watch outlives the test
        fake.close()


def test_a_pod_that_starts_late_is_followed_as_soon_as_the_watch_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under serve the follower waits for its pod on the shared watch's word, not on a
    poll: with the pause between looks made a minute long, a container that starts has
    its first line in the file at once, not at the next look."""
    monkeypatch.setattr(following, "POLL", 60.0)
    monkeypatch.setattr(following, "CACHED_CAP", 60.0)
    fake = FakeKubernetes(bookmark_every=0.2).start()
    watches = SharedWatches(Kube.connect(fake.url), "team", EXPERIMENT_LABEL)
    fake, executor, trial, path = _hand_run_job(tmp_path, fake, watches)
    pod, name = f"{trial}-pod", executor.primary
    try:
        time.sleep(1.0)  # the follower has looked, found no started container, and waits
        fake.log("team", pod, name, "loss=0.9")
        _container(fake, pod, name, {"running": {}}, 0)
        started = time.monotonic()
        while not path.read_text() and time.monotonic() - started < 10:
            time.sleep(0.01)
        took = time.monotonic() - started
        exited = _end(fake, executor, trial, restarts=0)
    finally:
        executor.shutdown()
        watches.stop()  # before the server goes: no watch outlives the test
        fake.close()
    assert took < 2.0
    assert exited is not None and exited.exit_code == 0
    assert path.read_text().splitlines() == ["loss=0.9"]


def _container(
    fake: FakeKubernetes, pod: str, name: str, state: dict[str, Any], restarts: int
) -> None:
    def change(body: dict[str, Any]) -> None:
        body["status"] = {
            "containerStatuses": [{"name": name, "state": state, "restartCount": restarts}]
        }

    fake.update(fake.kind_of("v1", "Pod"), "team", pod, change)


def _end(
    fake: FakeKubernetes, executor: KubernetesExecutor, trial: str, restarts: int
) -> TrialExit | None:
    """The hand-run job's container ends well, its log closed, then the job completes;
    the exit the executor reports."""
    pod, name = f"{trial}-pod", executor.primary
    fake.end_log("team", pod, name)
    _container(fake, pod, name, {"terminated": {"exitCode": 0}}, restarts)
    _complete(fake, trial)
    exited = executor.next_exit(timeout=15)
    if exited is not None:
        executor.settle(exited.trial)  # its output all read, as the run waits for
    return exited


def _complete(fake: FakeKubernetes, trial: str) -> None:
    fake.update(
        fake.kind_of("batch/v1", "Job"),
        "team",
        trial,
        lambda body: body.update(status={"conditions": [{"type": "Complete", "status": "True"}]}),
    )


def test_a_restarted_container_is_read_to_its_end_before_its_successor(tmp_path: Path) -> None:
    fake, executor, trial, path = _hand_run_job(tmp_path)
    pod, name = f"{trial}-pod", executor.primary
    try:
        _container(fake, pod, name, {"running": {}}, 0)
        fake.log("team", pod, name, "loss=0.9")
        time.sleep(0.5)
        fake.log("team", pod, name, "loss=0.8")  # the first container's last line
        fake.restart_log("team", pod, name)
        _container(fake, pod, name, {"running": {}}, 1)
        fake.log("team", pod, name, "loss=0.5")
        exited = _end(fake, executor, trial, restarts=1)
    finally:
        executor.shutdown()
        fake.close()
    assert exited is not None and exited.exit_code == 0
    assert path.read_text().splitlines() == ["loss=0.9", "loss=0.8", "loss=0.5"]


def test_a_log_that_vanishes_ends_the_output_with_a_note_and_the_trial_on_its_status(
    tmp_path: Path,
) -> None:
    fake, executor, trial, path = _hand_run_job(tmp_path)
    pod, name = f"{trial}-pod", executor.primary
    try:
        _container(fake, pod, name, {"running": {}}, 0)
        fake.log("team", pod, name, "loss=0.9")
        time.sleep(0.5)
        fake.delete(fake.kind_of("v1", "Pod"), "team", pod)  # the node took it, log and all
        time.sleep(0.5)
        _complete(fake, trial)
        exited = executor.next_exit(timeout=15)
        if exited is not None:
            executor.settle(exited.trial)
    finally:
        executor.shutdown()
        fake.close()
    assert exited is not None and exited.exit_code == 0
    lines = path.read_text().splitlines()
    assert lines[0] == "loss=0.9"
    assert lines[-1] == "[hpo-controller] the trial's pod is gone; its log ends here"


def test_an_exit_is_told_at_once_and_its_output_is_read_to_the_end_before_the_result(
    tmp_path: Path,
) -> None:
    """The workload's end is told as soon as the watch says so, with the time it was seen,
    while the container's last lines are still coming; settle returns once they are all
    in the file (and gives way to another exit where asked). The pod stays known until
    then: the follower does not take it for gone."""
    with _served_job(tmp_path) as (fake, executor, trial, path):
        pod, name = f"{trial}-pod", executor.primary
        fake.log("team", pod, name, "loss=0.9")
        _container(fake, pod, name, {"running": {}}, 0)
        while not path.read_text():
            time.sleep(0.01)
        before = utc_now()
        _complete(fake, trial)  # the job says it ended; its log is still open
        exited = executor.next_exit(timeout=15)
        assert exited is not None and exited.exit_code == 0
        assert exited.at is not None and before <= exited.at <= utc_now()
        executor.wake()  # something else waits to be heard: settle gives way
        assert executor.settle(trial, interruptible=True) is False
        assert executor.next_exit(timeout=0) is None
        fake.drop_watches()  # the follow breaks: it looks for its pod again, and resumes
        time.sleep(0.5)
        fake.log("team", pod, name, "loss=0.5")
        fake.end_log("team", pod, name)
        _container(fake, pod, name, {"terminated": {"exitCode": 0}}, 0)
        assert executor.settle(trial, interruptible=True) is True
    assert path.read_text().splitlines() == ["loss=0.9", "loss=0.5"]


def test_a_workload_whose_end_comes_before_its_pod_s_events_waits_for_them_not_the_api(
    tmp_path: Path,
) -> None:
    """The workload's end and its pod's changes come on different watches. Where the end
    comes first, the follower waits a moment for the pod's events instead of listing the
    trial's pods through the API, and reads the output to its end."""
    with _served_job(tmp_path) as (fake, executor, trial, path):
        pod, name = f"{trial}-pod", executor.primary
        fake.log("team", pod, name, "loss=0.9")
        fake.end_log("team", pod, name)
        time.sleep(0.5)  # the follower has looked: no started container yet
        listed = fake.requests["get"]
        _complete(fake, trial)  # the workload's end is heard first
        exited = executor.next_exit(timeout=15)
        assert exited is not None and exited.exit_code == 0
        _container(fake, pod, name, {"terminated": {"exitCode": 0}}, 0)  # then its pod's
        assert executor.settle(trial)
        assert fake.requests["get"] == listed  # no pod listed through the API
    assert path.read_text().splitlines() == ["loss=0.9"]
