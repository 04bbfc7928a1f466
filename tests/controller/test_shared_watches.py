"""One watch per kind for every experiment: each subscriber hears its own objects only,
a late one hears what the watch knows already, and one that is slow holds up no other."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from controller.kube.api import Kube, Resource
from controller.kube.watching import SharedWatches
from tests.kubeapi import FakeKubernetes

JOBS = Resource.of("batch/v1", "Job")
LABEL = "katib.kubeflow.org/experiment"


def job(name: str, experiment: str | None) -> dict[str, Any]:
    labels = {LABEL: experiment} if experiment else {}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels}}


def wait(test: Callable[[], bool], seconds: float = 10) -> None:
    ends = time.monotonic() + seconds
    while not test():
        assert time.monotonic() < ends, "timed out"
        time.sleep(0.02)


def test_each_subscriber_hears_its_own_objects_late_ones_too_and_slow_ones_alone() -> None:
    fake = FakeKubernetes(bookmark_every=0.2).start()
    kind = fake.kind_of("batch/v1", "Job")
    shared = SharedWatches(Kube.connect(fake.url), "team", LABEL)
    heard: dict[str, list[tuple[str, str]]] = {"a": [], "b": []}
    release = threading.Event()

    def listener(name: str) -> Callable[[str, dict[str, Any]], None]:
        def on_event(event: str, body: dict[str, Any]) -> None:
            if name == "a":
                release.wait(10)  # a slow subscriber
            heard[name].append((event, body["metadata"]["name"]))

        return on_event

    try:
        fake.create(kind, "team", job("b-0001", "b"))  # there before anyone subscribes
        a = shared.subscribe(JOBS, "a", listener("a"))
        fake.create(kind, "team", job("a-0001", "a"))
        fake.create(kind, "team", job("other", None))  # no label: nobody's
        b = shared.subscribe(JOBS, "b", listener("b"))  # late: hears the cache first
        fake.create(kind, "team", job("b-0002", "b"))
        wait(lambda: len(heard["b"]) == 2)
        assert heard["b"] == [("ADDED", "b-0001"), ("ADDED", "b-0002")]
        assert heard["a"] == []  # still busy with its first event; b was not held up
        release.set()
        wait(lambda: len(heard["a"]) == 1)
        assert heard["a"] == [("ADDED", "a-0001")]
        assert a.get("team", "b-0002") is not None  # one cache for all
        assert fake.requests["watch"] == 1  # one watch of Jobs for both
        b.stop()
        fake.delete(kind, "team", "b-0001")
        time.sleep(0.3)
        assert heard["b"] == [("ADDED", "b-0001"), ("ADDED", "b-0002")]  # gone: hears no more
    finally:
        release.set()
        shared.stop()
        fake.close()
