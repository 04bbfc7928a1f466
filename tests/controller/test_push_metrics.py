"""Katib's Push collector in the cluster: trials report to the controller's endpoint with a
token of their own, and the controller keeps each report in the trial's metrics file."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.errors import ControllerError
from controller.executors.kubernetes import pushing
from controller.executors.kubernetes.pushing import KEY_SECRET, SECRETS, PushReceiver, push_key
from controller.executors.kubernetes.shaping import add_environment
from controller.kube.api import Kube
from tests.controller.test_serve import NAMESPACE, Cluster, experiment_object
from tests.kubeapi import FakeKubernetes
from trainers import reporting

KEY = b"k" * 32


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    made = PushReceiver(KEY, "", port=0, host="127.0.0.1")
    try:
        yield made
    finally:
        made.close()


def post(url: str, body: bytes, token: str) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_a_trial_reports_with_its_own_token_and_the_report_lands_in_its_file(
    receiver: PushReceiver, tmp_path: Path
) -> None:
    env = receiver.register("team", "exp-0001", tmp_path / "exp-0001.metrics")
    url, token = env[pushing.URL_ENVIRONMENT], env[pushing.TOKEN_ENVIRONMENT]
    assert url == f"http://127.0.0.1:{receiver.port}/v1/metrics/team/exp-0001"
    reporting.post_metrics(url, token, accuracy=0.9, loss=0.25)
    reporting.post_metrics(url, token, accuracy=float("nan"))
    lines = [json.loads(x) for x in (tmp_path / "exp-0001.metrics").read_text().splitlines()]
    assert [(x["accuracy"], x.get("loss")) for x in lines] == [("0.9", "0.25"), ("nan", None)]


def test_one_trials_token_does_not_write_another_trials_metrics(
    receiver: PushReceiver, tmp_path: Path
) -> None:
    mine = receiver.register("team", "exp-0001", tmp_path / "mine.metrics")
    theirs = receiver.register("team", "exp-0002", tmp_path / "theirs.metrics")
    body = b'{"accuracy": 1.0}'
    assert post(theirs[pushing.URL_ENVIRONMENT], body, mine[pushing.TOKEN_ENVIRONMENT]) == 401
    assert post(theirs[pushing.URL_ENVIRONMENT], body, "") == 401
    assert not (tmp_path / "theirs.metrics").exists()
    with pytest.raises(RuntimeError, match="refused the metrics \\(401"):
        reporting.post_metrics(theirs[pushing.URL_ENVIRONMENT], "forged", accuracy=1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
)
def test_a_token_is_good_for_its_own_trial_only(one: str, other: str) -> None:
    receiver = PushReceiver.__new__(PushReceiver)  # the token law needs no server
    receiver._key = KEY
    receiver._files = {}
    receiver._lock = threading.Lock()
    token = receiver.token("team", one)
    path = f"/v1/metrics/team/{other}"
    code, _ = receiver.receive(path, f"Bearer {token}", b'{"a": 1}')
    assert (code == 404) == (one == other)  # right token, trial not running here
    assert (code == 401) == (one != other)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "JSON object"),
        (b'{"accuracy": "high"}', "must be a number"),
        (b'{"accuracy": true}', "must be a number"),
        (b'{"accuracy": {"nested": 1}}', "must be a number"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_report_that_is_not_metric_values_is_refused_with_why(
    receiver: PushReceiver, tmp_path: Path, body: bytes, said: str
) -> None:
    env = receiver.register("team", "exp-0001", tmp_path / "m")
    token = env[pushing.TOKEN_ENVIRONMENT]
    code, answer = receiver.receive("/v1/metrics/team/exp-0001", f"Bearer {token}", body)
    assert code == 400 and said in answer
    assert post(env[pushing.URL_ENVIRONMENT], body, token) == 400
    assert not (tmp_path / "m").exists()


def test_an_oversized_or_misaddressed_report_is_refused(
    receiver: PushReceiver, tmp_path: Path
) -> None:
    env = receiver.register("team", "exp-0001", tmp_path / "m")
    token = env[pushing.TOKEN_ENVIRONMENT]
    huge = json.dumps({f"m{i}": i for i in range(20_000)}).encode()
    assert post(env[pushing.URL_ENVIRONMENT], huge, token) == 413
    base = f"http://127.0.0.1:{receiver.port}"
    assert post(f"{base}/v1/metrics/team/exp-0001/x", b'{"a": 1}', token) == 404
    assert post(f"{base}/elsewhere", b'{"a": 1}', token) == 404
    receiver.forget("team", "exp-0001")  # the trial ended: nothing more is taken
    assert post(env[pushing.URL_ENVIRONMENT], b'{"a": 1}', token) == 404
    assert not (tmp_path / "m").exists()


def test_an_unreachable_controller_is_tried_again_then_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(reporting, "PUSH_ATTEMPTS", 3)
    monkeypatch.setattr(reporting, "PUSH_BACKOFF", 0.01)
    late = PushReceiver(KEY, "", port=0, host="127.0.0.1")
    port = late.port
    late.close()  # nobody listens there now
    with pytest.raises(RuntimeError, match="after 3 tries"):
        reporting.post_metrics(f"http://127.0.0.1:{port}/v1/metrics/t/x", "token", loss=1.0)


def test_report_metrics_pushes_where_the_environment_says(
    receiver: PushReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = receiver.register("team", "exp-0003", tmp_path / "m")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reporting.report_metrics(loss=0.5)
    assert json.loads((tmp_path / "m").read_text())["loss"] == "0.5"
    assert (pushing.URL_ENVIRONMENT, pushing.TOKEN_ENVIRONMENT) == (
        reporting.URL_ENVIRONMENT,
        reporting.TOKEN_ENVIRONMENT,
    )


def test_the_key_is_made_once_and_kept_in_a_secret() -> None:
    fake = FakeKubernetes().start()
    try:
        kube = Kube.connect(fake.url)
        first = push_key(kube, NAMESPACE)
        assert len(first) == 32 and push_key(kube, NAMESPACE) == first  # a new leader's too
        kind = fake.kind_of("v1", "Secret")
        fake.update(kind, NAMESPACE, KEY_SECRET, lambda o: o.update(data={"key": "c2hvcnQ="}))
        with pytest.raises(ControllerError, match="delete it and hpo-controller makes a new"):
            push_key(kube, NAMESPACE)
        assert SECRETS.kind == "Secret"
    finally:
        fake.close()


def test_every_container_of_any_kind_is_told_where_to_push() -> None:
    workflow: dict[str, Any] = {
        "kind": "Workflow",
        "spec": {
            "templates": [
                {"name": "a", "container": {"image": "x", "env": [{"name": "K", "value": "1"}]}},
                {"name": "b", "script": {"image": "y", "source": "print(1)"}},
            ]
        },
    }
    add_environment(workflow, {"K": "2", "U": "u"})
    a, b = (t.get("container") or t.get("script") for t in workflow["spec"]["templates"])
    assert a["env"] == [{"name": "K", "value": "2"}, {"name": "U", "value": "u"}]
    assert b["env"] == [{"name": "K", "value": "2"}, {"name": "U", "value": "u"}]


def pushing_runner(container: dict[str, Any]) -> tuple[list[str], int]:
    """A trial that pushes its loss (from its arguments) and prints nothing."""
    env = {e["name"]: e.get("value", "") for e in container.get("env") or []}
    words = " ".join(str(a) for a in [*container.get("command", []), *container.get("args", [])])
    loss = 1 / (2 + len(words))
    for step in (2.0, 1.0):
        reporting.post_metrics(
            env[pushing.URL_ENVIRONMENT], env[pushing.TOKEN_ENVIRONMENT], loss=loss * step
        )
    return ["training done"], 0


def test_push_trials_in_the_cluster_report_to_serve(tmp_path: Path) -> None:
    cluster = Cluster(pushing_runner)
    try:
        _, stop = cluster.server(tmp_path, push_port=0, push_url="")
        document = experiment_object(trials=3)
        document["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "Push"}}
        cluster.fake.create(cluster.experiments, NAMESPACE, document)
        cluster.wait(lambda: cluster.ended("random"))
        status = cluster.status("random")
        assert status["conditions"][-1]["type"] == "Succeeded", status["conditions"]
        assert status["trialsSucceeded"] == 3
        best = status["currentOptimalTrial"]["observation"]["metrics"][0]
        assert best["name"] == "loss" and float(best["latest"]) < float(best["max"])
        records = status["trialRecords"]
        assert all(len(r["metrics"]) == 1 for r in records)
        secret = cluster.fake.get(cluster.fake.kind_of("v1", "Secret"), NAMESPACE, KEY_SECRET)
        assert secret is not None
        stop.set()
    finally:
        cluster.close()
