"""`hpo-controller serve` against the fake API server with a simulated cluster: it runs the
Experiment objects of its namespace to their end, writes their status in Katib's shape,
resumes after being stopped without running a trial twice, holds a Lease so that two
replicas never drive the same experiments, keeps a deleted Experiment until its results
are committed, refuses an invalid object with a condition that says why, and exports
Katib's metrics."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.kube.api import Kube
from controller.ports import ResultsTarget
from controller.service import serve
from controller.service.serve import FINALIZER, STARTING, Server, ServeSettings
from generator.files import yamlio
from tests.kubeapi import FakeKubernetes
from tests.kubesim import ClusterSimulation, loss_runner, random_experiment

NAMESPACE = "team"


def experiment_object(name: str = "random", trials: int = 4, parallel: int = 2) -> dict[str, Any]:
    return random_experiment(name, NAMESPACE, trials, parallel)


def held_by(gate: threading.Event) -> Callable[[dict[str, Any]], tuple[list[str], int]]:
    """Trials that run until the gate opens."""

    def held(container: dict[str, Any]) -> tuple[list[str], int]:
        gate.wait(30)
        return loss_runner(container)

    return held


class Cluster:
    def __init__(
        self, runner: Callable[[dict[str, Any]], tuple[list[str], int]] | None, **simulated: Any
    ):
        self.fake = FakeKubernetes(bookmark_every=0.2).start()
        self.simulation = ClusterSimulation(self.fake, runner=runner, **simulated).start()
        self.experiments = self.fake.kind_of("kubeflow.org/v1beta1", "Experiment")
        self.jobs = self.fake.kind_of("batch/v1", "Job")
        self.created_jobs: list[str] = []
        self.servers: list[tuple[threading.Event, threading.Thread]] = []
        self.fake.listeners.append(
            lambda e, k, b: (
                self.created_jobs.append(b["metadata"]["name"])
                if e == "ADDED" and k.kind == "Job"
                else None
            )
        )

    def server(
        self, work: Path, identity: str = "a", **extra: Any
    ) -> tuple[Server, threading.Event]:
        settings = ServeSettings(
            namespace=NAMESPACE,
            environment="prod",
            identity=identity,
            work=work,
            lease_duration=2.0,
            renew=0.3,
            **extra,
        )
        server = Server(Kube.connect(self.fake.url), settings)
        stop = threading.Event()
        thread = threading.Thread(target=server.serve, args=(stop, (0, 0)), daemon=True)
        thread.start()
        self.servers.append((stop, thread))
        return server, stop

    def status(self, name: str) -> dict[str, Any]:
        body = self.fake.get(self.experiments, NAMESPACE, name) or {}
        return body.get("status") or {}

    def wait(self, test: Callable[[], bool], seconds: float = 30) -> None:
        ends = time.monotonic() + seconds
        while not test():
            assert time.monotonic() < ends, "timed out"
            time.sleep(0.05)

    def ended(self, name: str) -> bool:
        conditions = self.status(name).get("conditions") or []
        return bool(conditions) and conditions[-1]["type"] in ("Succeeded", "Failed")

    def close(self) -> None:
        """Every controller stopped and gone before the API server goes: none outlives
        its test (retrying against a closed server, into the next test's time)."""
        for stop, _ in self.servers:
            stop.set()
        for _, thread in self.servers:
            thread.join(timeout=60)
        self.simulation.stop()
        self.fake.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster(loss_runner)
    try:
        yield made
    finally:
        made.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_an_experiment_object_runs_to_its_end_with_its_status_in_katibs_shape(
    cluster: Cluster, tmp_path: Path
) -> None:
    server, stop = cluster.server(tmp_path)
    cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object())
    cluster.wait(lambda: cluster.ended("random"))
    status = cluster.status("random")
    conditions = status["conditions"]
    assert conditions[-1]["type"] == "Succeeded"
    assert conditions[-1]["reason"] == "ExperimentMaxTrialsReached"
    assert status["trials"] == 4 and status["trialsSucceeded"] == 4
    best = status["currentOptimalTrial"]
    assert best["bestTrialName"].startswith("random-")
    assert {m["name"] for m in best["observation"]["metrics"]} == {"loss"}
    assert len(status["trialRecords"]) == 4 and status["specDigest"]
    body = cluster.fake.get(cluster.experiments, NAMESPACE, "random")
    assert body is not None and FINALIZER in body["metadata"]["finalizers"]
    cluster.wait(lambda: cluster.fake.items(cluster.jobs, NAMESPACE) == [])  # deleted when done

    assert server.endpoints is not None
    probes, metrics = server.endpoints.ports
    assert get(f"http://127.0.0.1:{probes}/healthz")[0] == 200
    assert get(f"http://127.0.0.1:{probes}/readyz")[0] == 200
    code, text = get(f"http://127.0.0.1:{metrics}/metrics")
    assert code == 200
    assert 'katib_experiment_created_total{namespace="team"} 1.0' in text
    assert 'katib_experiment_succeeded_total{namespace="team"} 1.0' in text
    assert 'katib_trial_created_total{namespace="team"} 4.0' in text
    assert 'katib_trial_succeeded_total{namespace="team"} 4.0' in text
    assert 'katib_experiments_current{namespace="team",status="Succeeded"} 1.0' in text
    assert 'hpo_trial_duration_seconds_count{namespace="team",state="Succeeded"} 4.0' in text
    stop.set()


def test_experiments_synced_together_are_set_up_in_turn_and_one_deleted_meanwhile_never_starts(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set-ups are held open by a gate (in their config maps' read): no more than STARTING
    at once; an Experiment deleted while it waits its turn creates no trial."""
    gate, entered, lock = threading.Event(), [], threading.Lock()
    at_once = [0, 0]  # now, most

    def config_maps(kube: Kube, experiment: Any) -> Any:
        with lock:
            entered.append(experiment.name)
            at_once[0] += 1
            at_once[1] = max(at_once)
        gate.wait(30)
        with lock:
            at_once[0] -= 1
        return real(kube, experiment)

    real = serve.config_maps_for
    monkeypatch.setattr(serve, "config_maps_for", config_maps)
    server, stop = cluster.server(tmp_path)
    names = [f"exp-{i}" for i in range(STARTING + 3)]
    for name in names:
        cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(name, trials=2))
    cluster.wait(lambda: len(entered) == STARTING)
    time.sleep(0.3)  # the others wait their turn
    assert len(entered) == STARTING
    waiting = next(name for name in names if name not in entered)
    cluster.wait(lambda: waiting in server.runs)
    cluster.fake.delete(cluster.experiments, NAMESPACE, waiting)  # no finalizer yet: gone
    cluster.wait(lambda: server.runs[waiting].stopped.is_set())
    gate.set()
    others = [name for name in names if name != waiting]
    cluster.wait(lambda: all(cluster.ended(name) for name in others))
    assert at_once[1] == STARTING
    assert waiting not in entered
    assert not any(job.startswith(f"{waiting}-") for job in cluster.created_jobs)
    assert all(cluster.status(name)["trialsSucceeded"] == 2 for name in others)
    stop.set()


def test_an_experiment_deleted_and_created_again_under_its_name_runs_again(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A new object (a new uid) under a finished run's name and generation is a new
    experiment, as it would be to a controller that started after it was made."""
    _, stop = cluster.server(tmp_path)
    cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(trials=2))
    cluster.wait(lambda: cluster.ended("random"))
    cluster.fake.delete(cluster.experiments, NAMESPACE, "random")
    cluster.wait(lambda: cluster.fake.get(cluster.experiments, NAMESPACE, "random") is None)
    cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(trials=2))
    cluster.wait(lambda: cluster.ended("random"))
    assert cluster.status("random")["trialsSucceeded"] == 2
    assert len(cluster.created_jobs) == 4
    stop.set()


def test_a_new_controller_resumes_without_running_any_trial_twice(tmp_path: Path) -> None:
    gate = threading.Event()
    cluster = Cluster(held_by(gate))
    try:
        first, stop_first = cluster.server(tmp_path / "a", identity="a")
        cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(trials=6))
        cluster.wait(lambda: len(cluster.created_jobs) == 2)  # two running, held
        stop_first.set()  # SIGTERM: the controller goes, its trials stay
        cluster.wait(lambda: not first.leadership.leading.is_set())
        assert len(cluster.fake.items(cluster.jobs, NAMESPACE)) == 2
        records = cluster.status("random")["trialRecords"]
        assert [r["state"] for r in records] == ["Running", "Running"]

        _second, stop_second = cluster.server(tmp_path / "b", identity="b")
        gate.set()
        cluster.wait(lambda: cluster.ended("random"))
        stop_second.set()
        status = cluster.status("random")
        assert status["trialsSucceeded"] == 6
        assert sorted(cluster.created_jobs) == sorted(set(cluster.created_jobs))  # none twice
        assert len(cluster.created_jobs) == 6
        assert cluster.simulation.pods_made == 6
    finally:
        cluster.close()


def changed_while_running(
    tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> tuple[dict[str, Any], list[str]]:
    """An experiment of 4 trials, 2 at a time, changed in place by `change` (a new
    generation, as a sync makes it) while its first two trials run: its status once it
    has ended, and the Jobs created."""
    gate = threading.Event()
    cluster = Cluster(held_by(gate))
    try:
        _, stop = cluster.server(tmp_path)
        cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(trials=4))
        cluster.wait(lambda: len(cluster.created_jobs) == 2)

        def changed(body: dict[str, Any]) -> None:
            change(body["spec"])
            body["metadata"]["generation"] += 1

        cluster.fake.update(cluster.experiments, NAMESPACE, "random", changed)
        time.sleep(0.5)
        gate.set()
        cluster.wait(lambda: cluster.ended("random"))
        stop.set()
        return cluster.status("random"), list(cluster.created_jobs)
    finally:
        cluster.close()


def test_a_budget_raised_while_the_experiment_runs_is_run_to_with_no_trial_twice(
    tmp_path: Path,
) -> None:
    """The run takes the raised maxTrialCount up and runs to it; the trials that ran
    meanwhile are kept, not made again."""
    status, jobs = changed_while_running(tmp_path, lambda spec: spec.update(maxTrialCount=6))
    assert status["trials"] == 6 and status["trialsSucceeded"] == 6
    assert status["conditions"][-1]["reason"] == "ExperimentMaxTrialsReached"
    assert len(jobs) == len(set(jobs)) == 6


def test_parallelism_lowered_below_the_trials_running_loses_and_repeats_none(
    tmp_path: Path,
) -> None:
    """Two trials run when parallelTrialCount goes to 1: the run resumed on it adopts them
    in turn; every trial is recorded once."""
    status, jobs = changed_while_running(tmp_path, lambda s: s.update(parallelTrialCount=1))
    assert status["trials"] == 4 and status["trialsSucceeded"] == 4
    assert len(jobs) == len(set(jobs)) == 4


def test_a_search_changed_in_place_while_it_runs_is_not_taken_up(tmp_path: Path) -> None:
    """Katib's webhook refuses a change beyond the budget; where one reaches the object
    anyway, the run goes on with the spec it started with, its trials untouched."""

    def search_changed(spec: dict[str, Any]) -> None:
        spec["objective"]["type"] = "maximize"
        spec["maxTrialCount"] = 6

    status, jobs = changed_while_running(tmp_path, search_changed)
    assert status["trials"] == 4 and status["trialsSucceeded"] == 4
    assert len(jobs) == 4


def test_an_invalid_budget_set_while_it_runs_is_not_taken_up(tmp_path: Path) -> None:
    """maxTrialCount lowered below parallelTrialCount, which Katib's webhook refuses: the
    run goes on with the budget it had."""
    status, jobs = changed_while_running(tmp_path, lambda spec: spec.update(maxTrialCount=1))
    assert status["trials"] == 4 and status["trialsSucceeded"] == 4
    assert status["conditions"][-1]["reason"] == "ExperimentMaxTrialsReached"
    assert len(jobs) == 4


def test_two_replicas_never_lead_at_once_and_the_standby_takes_over(
    cluster: Cluster, tmp_path: Path
) -> None:
    a, stop_a = cluster.server(tmp_path / "a", identity="a")
    b, stop_b = cluster.server(tmp_path / "b", identity="b")
    both = []
    ends = time.monotonic() + 3
    while time.monotonic() < ends:
        both.append(a.leadership.leading.is_set() and b.leadership.leading.is_set())
        time.sleep(0.01)
    assert not any(both)
    assert a.leadership.leading.is_set() != b.leadership.leading.is_set()
    stop_leader, standby = (stop_a, b) if a.leadership.leading.is_set() else (stop_b, a)
    stop_leader.set()  # it releases the Lease on the way out
    cluster.wait(lambda: standby.leadership.leading.is_set(), seconds=10)
    cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(trials=2))
    cluster.wait(lambda: cluster.ended("random"))
    stop_a.set()
    stop_b.set()


def test_an_invalid_experiment_object_gets_a_failed_condition_that_says_why(
    cluster: Cluster, tmp_path: Path
) -> None:
    _, stop = cluster.server(tmp_path)
    bad = experiment_object(name="bad")
    bad["spec"]["parameters"][0]["feasibleSpace"] = {"min": "0.5", "max": "0.1"}
    cluster.fake.create(cluster.experiments, NAMESPACE, bad)
    cluster.wait(lambda: cluster.ended("bad"))
    (condition,) = cluster.status("bad")["conditions"]
    assert condition["reason"] == "ExperimentInvalid"
    assert "feasibleSpace" in condition["message"]

    def mended(body: dict[str, Any]) -> None:
        body["spec"]["parameters"][0]["feasibleSpace"] = {"min": "0.01", "max": "0.05"}
        body["metadata"]["generation"] += 1

    cluster.fake.update(cluster.experiments, NAMESPACE, "bad", mended)  # in place, any way
    cluster.wait(lambda: cluster.status("bad")["conditions"][-1]["type"] == "Succeeded")
    assert cluster.status("bad")["trialsSucceeded"] == 4
    made = len(cluster.created_jobs)

    def searched_anew(body: dict[str, Any]) -> None:  # once it has run: as Katib refuses
        body["spec"]["objective"]["type"] = "maximize"
        body["metadata"]["generation"] += 1

    cluster.fake.update(cluster.experiments, NAMESPACE, "bad", searched_anew)
    time.sleep(0.5)
    assert len(cluster.created_jobs) == made
    assert cluster.status("bad")["conditions"][-1]["type"] == "Succeeded"
    odd = experiment_object(name="odd")
    odd["spec"] = "not a mapping"  # a CRD without its schema lets any shape through
    cluster.fake.create(cluster.experiments, NAMESPACE, odd)
    cluster.wait(lambda: cluster.ended("odd"))
    (condition,) = cluster.status("odd")["conditions"]
    assert condition["reason"] == "ExperimentInvalid"
    assert not any(job.startswith("odd-") for job in cluster.created_jobs)
    stop.set()


def test_api_errors_on_status_writes_lose_no_status(cluster: Cluster, tmp_path: Path) -> None:
    _, stop = cluster.server(tmp_path)
    cluster.fake.fail("PATCH", r"/experiments/random/status$", 500, times=3)
    cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object())
    cluster.wait(lambda: cluster.ended("random"))
    assert cluster.status("random")["trialsSucceeded"] == 4
    stop.set()


def committed_status(remote: Path, name: str = "random") -> dict[str, Any]:
    """The experiment's status document as the remote's status branch has it."""
    shown = subprocess.run(
        ["git", "-C", str(remote), "show", f"hpo-status/prod:status/prod/{name}.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yamlio.load(shown)  # type: ignore[no-any-return]


def test_a_deleted_experiment_goes_once_its_results_are_committed(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "--quiet", str(remote)], check=True)
    gate = threading.Event()
    cluster = Cluster(held_by(gate))
    try:
        target = ResultsTarget(mode="status-branch", remote=str(remote), interval=3600)
        _, stop = cluster.server(tmp_path / "work", results=target)
        cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(trials=4))
        cluster.wait(lambda: len(cluster.created_jobs) == 2)
        gate.set()
        cluster.wait(lambda: (cluster.status("random").get("trialsSucceeded") or 0) >= 2)
        cluster.fake.delete(cluster.experiments, NAMESPACE, "random")
        cluster.wait(lambda: cluster.fake.get(cluster.experiments, NAMESPACE, "random") is None)
        committed = committed_status(remote)
        assert committed["experiment"] == "random"
        assert sum(t["state"] == "Succeeded" for t in committed["trials"]) >= 2
        cluster.wait(lambda: cluster.fake.items(cluster.jobs, NAMESPACE) == [])  # owned: gone
        stop.set()
    finally:
        cluster.close()


def test_running_experiments_are_committed_and_pushed_together(tmp_path: Path) -> None:
    """Three experiments run at once: while their trials run, they are committed at the
    commit interval in rounds, one commit and one push for the experiments that changed,
    the commit naming each (a line that counts them, each one's message, a trailer each)."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "--quiet", str(remote)], check=True)
    pushes = tmp_path / "pushes"
    hook = remote / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\necho pushed >> '{pushes}'\n")
    hook.chmod(0o755)
    gate = threading.Event()
    cluster = Cluster(held_by(gate))
    names = ["first", "second", "third"]

    def log(format: str) -> str:
        return subprocess.run(
            ["git", "-C", str(remote), "log", f"--format={format}", "hpo-status/prod"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip

    def landed() -> set[str]:
        return set(log("%(trailers:key=Experiment,valueonly)").split())

    try:
        target = ResultsTarget(mode="status-branch", remote=str(remote), interval=1.0)
        _, stop = cluster.server(tmp_path / "work", results=target)
        for name in names:
            cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(name, 4))
        cluster.wait(lambda: {f"{NAMESPACE}/{n}" for n in names} <= landed())
        assert all(committed_status(remote, n)["experiment"] == n for n in names)
        assert all(not cluster.ended(n) for n in names)  # committed while they run
        subjects = log("%s").splitlines()
        assert len(subjects) < len(names)  # a round took more than one
        assert len(pushes.read_text().splitlines()) == len(subjects)  # one push a commit
        shared = log("%B").split("status/prod: ")[1]
        assert shared.startswith(("2 experiments [skip ci]", "3 experiments [skip ci]"))
        assert shared.count("trials: ") >= 2  # each one's own message beneath
        gate.set()
        for name in names:
            cluster.wait(lambda name=name: cluster.ended(name))
        stop.set()
    finally:
        gate.set()
        cluster.close()


def test_results_a_remote_refuses_are_kept_said_on_the_object_and_pushed_later(
    tmp_path: Path,
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "--quiet", str(remote)], check=True)
    closed = tmp_path / "closed"
    closed.touch()
    hook = remote / "hooks" / "pre-receive"
    refuse = f"if [ -e '{closed}' ]; then echo 'closed for now' >&2; exit 1; fi"
    hook.write_text(f"#!/bin/sh\n{refuse}\n")
    hook.chmod(0o755)
    cluster = Cluster(loss_runner)

    def pushed() -> dict[str, Any] | None:
        conditions = cluster.status("random").get("conditions") or []
        found = [c for c in conditions if c["type"] == "ResultsPushed"]
        return found[0] if found else None

    try:
        target = ResultsTarget(mode="status-branch", remote=str(remote), interval=1.0)
        _, stop = cluster.server(tmp_path / "work", results=target)
        cluster.fake.create(cluster.experiments, NAMESPACE, experiment_object(trials=2))
        cluster.wait(lambda: cluster.ended("random"))
        cluster.wait(lambda: (pushed() or {}).get("status") == "False", seconds=60)
        condition = pushed()
        assert condition is not None and condition["reason"] == "PushFailed"
        assert "results kept on refs/heads/hpo-status/prod" in condition["message"]
        assert "closed for now" in condition["message"]
        conditions = cluster.status("random")["conditions"]
        assert conditions[0]["type"] == "ResultsPushed"  # the run's own stay last
        assert conditions[-1]["type"] == "Succeeded"
        branches = subprocess.run(
            ["git", "-C", str(remote), "branch", "--list"], capture_output=True, text=True
        ).stdout
        assert branches == ""  # nothing landed while refused

        closed.unlink()  # the remote takes pushes again: the kept results go out
        cluster.wait(lambda: (pushed() or {}).get("status") == "True", seconds=60)
        committed = committed_status(remote)
        assert committed["status"]["conditions"][-1]["type"] == "Succeeded"
        assert (pushed() or {})["reason"] == "Pushed"
        stop.set()
    finally:
        cluster.close()
