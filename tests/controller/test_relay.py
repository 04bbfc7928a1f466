"""File and TensorFlowEvent metrics in the cluster: the relay sidecar prints what the
trial writes, the controller follows the sidecar's log into the trial's metrics file."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from torch.utils.tensorboard import SummaryWriter

from controller.errors import ControllerError
from controller.executors.kubernetes.executor import KubernetesExecutor
from controller.executors.kubernetes.shaping import (
    RELAY_CONTAINER,
    RELAY_READY,
    RELAY_STATE,
    RELAY_VOLUME,
    add_relay,
)
from controller.kube.api import Kube
from controller.metrics.relay import EventRelay, FileRelay, relay
from controller.sources.cluster import experiment_of
from tests.controller.test_serve import NAMESPACE, Cluster
from tests.kubesim import random_experiment

BIN = Path(sys.executable).parent
IMAGE = "ghcr.io/hpo-gen/hpo-controller:test"


def test_a_file_comes_out_a_whole_line_at_a_time_and_again_after_a_rotation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metrics.log"
    source = FileRelay(path)
    assert source.read() == []  # not there yet
    path.write_text("loss=0.5\nloss=0.4")
    assert source.read() == ["loss=0.5"]  # the second line is not whole yet
    with path.open("a") as stream:
        stream.write("\nloss=0.3\n")
    assert source.read() == ["loss=0.4", "loss=0.3"]
    path.write_text("loss=0.2\n")  # rotated: a new, shorter file
    assert source.read() == ["loss=0.2"]
    with path.open("a") as stream:
        stream.write("loss=0.1")
    assert source.read(final=True) == ["loss=0.1"]  # the end: what is there goes


def test_event_files_come_out_as_json_lines_each_value_once(tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path))
    source = EventRelay(tmp_path, ["loss", "accuracy"])
    for step, loss in enumerate([0.9, 0.5]):
        writer.add_scalar("loss", loss, step)
    writer.flush()
    first = source.read()
    writer.add_scalar("loss", 0.25, 2)
    writer.add_scalar("accuracy", 0.75, 2)
    writer.flush()
    writer.close()
    then = source.read()
    assert [json.loads(x) for x in first] == [{"loss": 0.9}, {"loss": 0.5}]
    assert sorted(then) == sorted([json.dumps({"loss": 0.25}), json.dumps({"accuracy": 0.75})])
    assert source.read() == []


def test_the_relay_reads_once_more_when_stopped(tmp_path: Path) -> None:
    path = tmp_path / "m"
    out = tmp_path / "out"
    stop = threading.Event()
    with out.open("w") as stream:
        thread = threading.Thread(target=relay, args=(FileRelay(path).read, stream, stop, 0.05))
        thread.start()
        path.write_text("loss=1\nloss=2")
        time.sleep(0.2)
        stop.set()
        thread.join(5)
    assert out.read_text() == "loss=1\nloss=2\n"


def test_the_relay_command_ends_on_sigterm_after_a_last_read(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    process = subprocess.Popen(
        [str(BIN / "hpo-controller"), "relay", "--kind", "File", "--path", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)  # it has started and looked
    path.write_text("loss=0.5\naccuracy=0.9")
    process.terminate()
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert out.splitlines() == ["loss=0.5", "accuracy=0.9"]


def job(container: dict[str, Any], volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [container]}
    if volumes:
        spec["volumes"] = volumes
    return {"kind": "Job", "spec": {"template": {"spec": spec}}}


def test_the_sidecar_shares_the_metrics_folder_with_the_primary_container() -> None:
    body = job({"name": "main", "image": "x"})
    assert add_relay(
        body,
        primary="main",
        image=IMAGE,
        kind="File",
        path="/var/log/katib/metrics.log",
        metrics=["loss"],
    )
    pod = body["spec"]["template"]["spec"]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": RELAY_VOLUME, "mountPath": "/var/log/katib"}
    ]
    assert pod["volumes"] == [
        {"name": RELAY_VOLUME, "emptyDir": {}},
        {"name": RELAY_STATE, "emptyDir": {}},
    ]
    (sidecar,) = pod["initContainers"]
    assert sidecar["name"] == RELAY_CONTAINER and sidecar["restartPolicy"] == "Always"
    assert sidecar["args"] == [
        "relay",
        "--kind",
        "File",
        "--path",
        "/var/log/katib/metrics.log",
        "--ready",
        RELAY_READY,
        "--metric",
        "loss",
    ]
    assert sidecar["startupProbe"]["exec"]["command"] == ["test", "-e", RELAY_READY]
    assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in sidecar["volumeMounts"]} == {
        "/var/log/katib",
        RELAY_READY.rpartition("/")[0],
    }
    # a folder the template mounts already is the one shared; event files: the folder itself
    mounted = job(
        {"name": "main", "image": "x", "volumeMounts": [{"name": "tb", "mountPath": "/tb"}]},
        volumes=[{"name": "tb", "persistentVolumeClaim": {"claimName": "c"}}],
    )
    add_relay(
        mounted, primary="", image=IMAGE, kind="TensorFlowEvent", path="/tb/", metrics=["loss"]
    )
    pod = mounted["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["volumeMounts"][0]["name"] == "tb"
    assert [v["name"] for v in pod["volumes"]] == ["tb", RELAY_STATE]
    # no pod template with that container: nothing added
    assert add_relay(job({"name": "other", "image": "x"}), primary="main", image=IMAGE,
                     kind="File", path="/m/x", metrics=[]) == 0  # fmt: skip


FILE_TRIAL = (
    "import sys, time\n"
    "lr = float(sys.argv[1])\n"
    "with open('/var/log/katib/metrics.log', 'a') as out:\n"
    "    for step in range(3):\n"
    "        out.write(f'loss={lr / (step + 1):.6f}\\n'); out.flush(); time.sleep(0.1)\n"
    "print('done')\n"
)
EVENT_TRIAL = (
    "import sys\n"
    "from torch.utils.tensorboard import SummaryWriter\n"
    "lr = float(sys.argv[1])\n"
    "writer = SummaryWriter('/var/log/katib/tfevent')\n"
    "for step in range(3):\n"
    "    writer.add_scalar('loss', lr / (step + 1), step)\n"
    "writer.close()\n"
)


def collecting(kind: str, code: str) -> dict[str, Any]:
    document = random_experiment("relayed", NAMESPACE, trials=2, parallel=2)
    spec = document["spec"]
    path = (
        {"path": "/var/log/katib/metrics.log", "kind": "File"}
        if kind == "File"
        else {"path": "/var/log/katib/tfevent/", "kind": "Directory"}
    )
    spec["metricsCollectorSpec"] = {
        "collector": {"kind": kind},
        "source": {"fileSystemPath": path},
    }
    container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [
        sys.executable,
        "-c",
        code,
        "${trialParameters.learningRate}",
        "${trialParameters.momentum}",
    ]
    return document


@pytest.mark.parametrize(("kind", "code"), [("File", FILE_TRIAL), ("TensorFlowEvent", EVENT_TRIAL)])
def test_file_and_event_metrics_of_trials_in_the_cluster_reach_the_controller(
    tmp_path: Path, kind: str, code: str
) -> None:
    cluster = Cluster(
        None, entrypoints={IMAGE: [str(BIN / "hpo-controller")]}, scratch=tmp_path / "pods"
    )
    try:
        _, stop = cluster.server(tmp_path / "work", relay_image=IMAGE)
        cluster.fake.create(cluster.experiments, NAMESPACE, collecting(kind, code))
        cluster.wait(lambda: cluster.ended("relayed"))
        status = cluster.status("relayed")
        assert status["conditions"][-1]["type"] == "Succeeded", status["conditions"]
        assert status["trialsSucceeded"] == 2, json.dumps(status["trialRecords"])
        for record in status["trialRecords"]:
            (loss,) = record["metrics"]
            lr = float({a["name"]: a["value"] for a in record["parameterAssignments"]}["lr"])
            assert float(loss["max"]) == pytest.approx(lr, abs=1e-6)  # printed to 6 places
            assert float(loss["latest"]) == pytest.approx(lr / 3, abs=1e-6)
        stop.set()
    finally:
        cluster.close()


def test_file_metrics_without_a_relay_image_are_refused_before_any_trial(tmp_path: Path) -> None:
    experiment = experiment_of(collecting("File", FILE_TRIAL))
    with pytest.raises(ControllerError, match="HPO_RELAY_IMAGE"):
        KubernetesExecutor(Kube.connect("http://127.0.0.1:9"), experiment, NAMESPACE, tmp_path)
