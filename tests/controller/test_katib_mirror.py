"""Where the cluster runs Katib: hpo-controller executes nothing and mirrors Katib's
Experiment and Trial status into the status files and commits."""

from __future__ import annotations

import copy
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.core.records import TrialState
from controller.errors import ControllerError
from controller.ports import ResultsTarget
from controller.service.serve import FINALIZER, ServeSettings
from controller.sources.katib import experiment_of_trial, record_of
from generator.files import yamlio
from tests.controller.test_serve import NAMESPACE, Cluster
from tests.kubesim import random_experiment


def condition(
    kind: str, status: str = "True", reason: str = "", message: str = ""
) -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason or f"Trial{kind}", "message": message}


def katib_trial(
    name: str,
    lr: str,
    conditions: list[dict[str, Any]],
    metrics: list[dict[str, str]] | None = None,
    created: str = "2026-12-05T10:00:00Z",
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": conditions, "startTime": created}
    if metrics is not None:
        status["observation"] = {"metrics": metrics}
    if conditions and conditions[-1]["type"] in ("Succeeded", "Failed", "EarlyStopped"):
        status["completionTime"] = "2026-12-05T10:05:00Z"
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Trial",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "creationTimestamp": created,
            "labels": {"katib.kubeflow.org/experiment": "random"},
        },
        "spec": {
            "parameterAssignments": [
                {"name": "lr", "value": lr},
                {"name": "momentum", "value": "0.6"},
            ]
        },
        "status": status,
    }


RUNNING = [condition("Created"), condition("Running")]
SUCCEEDED = [
    condition("Created"),
    condition("Running", "False"),
    condition("Succeeded", reason="TrialSucceeded", message="Trial has succeeded"),
]
UNAVAILABLE = [
    condition("Created"),
    condition("Running", "False"),
    condition("MetricsUnavailable", reason="MetricsUnavailable", message="no loss"),
]


# Katib's status of an experiment that ran its trials.
FINISHED = {
    "startTime": "2026-12-05T10:00:00Z",
    "completionTime": "2026-12-05T10:10:00Z",
    "conditions": [
        {"type": "Created", "status": "True", "reason": "ExperimentCreated"},
        {"type": "Running", "status": "False", "reason": "ExperimentRunning"},
        {
            "type": "Succeeded",
            "status": "True",
            "reason": "ExperimentMaxTrialsReached",
            "message": "Experiment has succeeded because max trial count has reached",
        },
    ],
}


def loss(latest: str, low: str = "", high: str = "") -> list[dict[str, str]]:
    return [{"name": "loss", "min": low or latest, "max": high or latest, "latest": latest}]


def test_katibs_objects_read_as_a_record() -> None:
    experiment = {
        "metadata": {"name": "random", "namespace": NAMESPACE},
        "status": copy.deepcopy(FINISHED),
    }
    trials = [
        katib_trial(
            "random-b",
            "0.02",
            UNAVAILABLE,
            [{"name": "loss", "min": "unavailable", "max": "unavailable", "latest": "unavailable"}],
            "2026-12-05T10:01:00Z",
        ),
        katib_trial("random-a", "0.01", SUCCEEDED, loss("0.25", "0.2", "0.9")),
        katib_trial("random-c", "0.03", RUNNING, None, "2026-12-05T10:02:00Z"),
        katib_trial(
            "random-d",
            "0.04",
            SUCCEEDED,
            [{"name": "loss", "min": "unavailable", "max": "unavailable", "latest": "Genotype(x)"}],
            "2026-12-05T10:03:00Z",
        ),
    ]
    record = record_of(experiment, trials)
    names = [t.name for t in record.trials]
    assert names == ["random-a", "random-b", "random-c", "random-d"]  # by creation
    a, b, c, d = record.trials
    genotype = d.metric("loss")  # a value Katib kept as text
    assert genotype is not None and genotype.text == "Genotype(x)"
    assert a.state is TrialState.SUCCEEDED and a.reason == "TrialSucceeded"
    assert a.assignments == (("lr", "0.01"), ("momentum", "0.6"))
    summary = a.metric("loss")
    assert summary is not None and (summary.min, summary.max, summary.latest) == (0.2, 0.9, 0.25)
    assert b.state is TrialState.METRICS_UNAVAILABLE and b.metrics == ()  # "unavailable": none
    assert c.state is TrialState.RUNNING and c.completion_time is None
    assert record.completion is not None
    assert record.completion.reason == "ExperimentMaxTrialsReached"
    assert record.completion_time == "2026-12-05T10:10:00Z"
    assert experiment_of_trial(trials[0]) == "random"
    owned = {"metadata": {"ownerReferences": [{"kind": "Experiment", "name": "x"}]}}
    assert experiment_of_trial(owned) == "x"


def test_a_katib_environment_without_git_is_refused() -> None:
    with pytest.raises(ControllerError, match="HPO_RESULTS=status-branch"):
        ServeSettings.from_environment(
            {"POD_NAMESPACE": NAMESPACE, "HPO_ENVIRONMENT": "prod", "HPO_EXECUTOR": "katib"}
        )


def text(remote: Path, path: str) -> str | None:
    shown = subprocess.run(
        ["git", "-C", str(remote), "show", f"hpo-status/prod:{path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout if shown.returncode == 0 else None


def show(remote: Path, path: str) -> dict[str, Any] | None:
    found = text(remote, path)
    return yamlio.load(found) if found is not None else None


def wait_for(test: Callable[[], Any], seconds: float = 60) -> Any:
    ends = time.monotonic() + seconds
    while not (found := test()):
        assert time.monotonic() < ends, "timed out"
        time.sleep(0.05)
    return found


def test_what_katib_runs_is_mirrored_into_git_and_nothing_is_executed(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "--quiet", str(remote)], check=True)
    cluster = Cluster(None)  # Katib's part is played here: nothing runs a workload
    fake, experiments = cluster.fake, cluster.experiments
    trials = fake.kind_of("kubeflow.org/v1beta1", "Trial")
    try:
        target = ResultsTarget(mode="status-branch", remote=str(remote), interval=0.5)
        _, stop = cluster.server(tmp_path / "work", mirror=True, results=target)
        fake.create(experiments, NAMESPACE, random_experiment("random", NAMESPACE, 2, 2))
        wait_for(
            lambda: (
                FINALIZER
                in ((fake.get(experiments, NAMESPACE, "random") or {}).get("metadata") or {}).get(
                    "finalizers", []
                )
            )
        )
        # Katib at work: two trials, one running, then both done and the experiment too.
        fake.create(trials, NAMESPACE, katib_trial("random-a", "0.01", RUNNING))
        fake.create(trials, NAMESPACE, katib_trial("random-b", "0.02", RUNNING))
        progress = wait_for(lambda: show(remote, "status/prod/random.yaml"))
        assert [t["state"] for t in progress["trials"]] == ["Running", "Running"]

        def finish(name: str, value: str) -> None:
            def change(body: dict[str, Any]) -> None:
                body["status"]["conditions"] = SUCCEEDED
                body["status"]["observation"] = {"metrics": loss(value)}
                body["status"]["completionTime"] = "2026-12-05T10:05:00Z"

            fake.update(trials, NAMESPACE, name, change, status=True)

        finish("random-a", "0.3")
        finish("random-b", "0.1")

        def succeeded(body: dict[str, Any]) -> None:
            body["status"] = copy.deepcopy(FINISHED)

        fake.update(experiments, NAMESPACE, "random", succeeded, status=True)
        final = wait_for(
            lambda: (
                (d := show(remote, "status/prod/random.yaml"))
                and d["status"]["conditions"][-1]["type"] == "Succeeded"
                and d
            )
        )
        assert final["status"]["trialsSucceeded"] == 2
        assert final["status"]["currentOptimalTrial"]["bestTrialName"] == "random-b"
        assert "random-b" in (text(remote, "status/prod/random.md") or "")  # the summary too
        assert fake.items(fake.kind_of("batch/v1", "Job")) == []  # nothing executed
        status = (fake.get(experiments, NAMESPACE, "random") or {})["status"]
        assert "specDigest" not in status  # the object's status stays Katib's

        fake.delete(experiments, NAMESPACE, "random")  # goes once its finalizer is off
        wait_for(lambda: fake.get(experiments, NAMESPACE, "random") is None)
        stop.set()
    finally:
        cluster.close()
