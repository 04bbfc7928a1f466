"""The controller's workload requests: replacements of ended trials before first trials,
deletes last, each class in the order asked; a failed request is told to whoever waits
for it and the threads go on; a shutdown makes what was asked first."""

from __future__ import annotations

import threading

import pytest

from controller.executors.kubernetes.requesting import DELETE, FIRST, REPLACEMENT, Requests


def test_replacements_go_before_first_trials_and_deletes_last() -> None:
    requests = Requests(1)
    busy, release = threading.Event(), threading.Event()
    made: list[str] = []

    def hold() -> None:
        busy.set()
        release.wait(10)

    requests.submit(FIRST, hold)
    assert busy.wait(10)  # the one thread is taken: the rest wait in line
    for kind, name in [
        (DELETE, "delete a"),
        (FIRST, "create b"),
        (REPLACEMENT, "create c"),
        (FIRST, "create d"),
        (REPLACEMENT, "create e"),
    ]:
        requests.submit(kind, made.append, name)
    release.set()
    requests.shutdown()  # what was asked is made first
    assert made == ["create c", "create e", "create b", "create d", "delete a"]


def test_a_failed_request_is_told_to_its_waiter_and_the_threads_go_on() -> None:
    requests = Requests(1)

    def refused() -> None:
        raise RuntimeError("refused")

    failed = requests.submit(FIRST, refused)
    made: list[str] = []
    after = requests.submit(FIRST, made.append, "next")
    with pytest.raises(RuntimeError, match="refused"):
        failed.result(timeout=10)
    after.result(timeout=10)
    requests.shutdown()
    assert made == ["next"]
