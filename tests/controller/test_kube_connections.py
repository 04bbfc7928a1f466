"""The controller's connections to the API server: a streamed answer read to its end
leaves its connection for the next request; one left part-read is closed, so that what is
left of it is never read as another request's answer."""

from __future__ import annotations

from controller.kube.api import PODS, Kube, Resource
from tests.kubeapi import FakeKubernetes

JOBS = Resource.of("batch/v1", "Job")


def pod(name: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "trainer"}]},
    }


def test_a_log_read_to_its_end_leaves_its_connection_for_the_next_requests() -> None:
    fake = FakeKubernetes().start()
    try:
        pods = fake.kind_of("v1", "Pod")
        fake.create(pods, "team", pod("p"))
        for line in ("loss=0.5", "loss=0.25"):
            fake.log("team", "p", "main", line)
        fake.end_log("team", "p", "main")
        kube = Kube.connect(fake.url)
        for _ in range(5):
            assert list(kube.log("team", "p", "main")) == ["loss=0.5", "loss=0.25"]
            assert kube.get(PODS, "team", "p") is not None
        assert fake.server.connections == 1
    finally:
        fake.close()


def test_a_stream_left_part_read_is_closed_and_the_next_answer_is_whole() -> None:
    fake = FakeKubernetes().start()
    try:
        jobs = fake.kind_of("batch/v1", "Job")
        for name in ("a", "b", "c"):
            fake.create(jobs, "team", {"metadata": {"name": name}})
        kube = Kube.connect(fake.url)
        events = kube.watch(JOBS, "team", "1000", timeout=30)
        assert next(events)[1]["metadata"]["name"] == "a"
        events.close()  # two events and the stream's end were never read
        for _ in range(3):
            assert [j["metadata"]["name"] for j in kube.list(JOBS, "team")[0]] == ["a", "b", "c"]
        assert fake.server.connections == 2  # the watch's, closed; the next one's, kept
    finally:
        fake.close()
