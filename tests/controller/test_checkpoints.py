"""Commits as experiments run, in rounds on a thread of their own: the run loop hands over
a copy of the record and goes on; the latest copy is committed in the next round; every
experiment that changed is committed in the same round, at once; no experiment more than
once an interval; the first round at a phase of its own; `close()` waits for the round
under way and drops what waits (the final commit follows it); a failed commit is said and
the next one carries its changes."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

import pytest

from controller.core.records import ExperimentRecord, TrialRecord
from controller.errors import ControllerError
from controller.service.checkpoints import Checkpoints, engine_checkpoint
from generator.katib.models import Experiment
from tests.kubesim import random_experiment

Batch = dict[str, tuple[Experiment, ExperimentRecord]]


def experiment_named(name: str) -> Experiment:
    return Experiment.model_validate(random_experiment(name, "team", 4, 2))


def record_of(trials: int, name: str = "e") -> ExperimentRecord:
    return ExperimentRecord(
        name, None, [TrialRecord(f"{name}-{i}", ()) for i in range(trials)], "2026-01-01T00:00:00Z"
    )


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def single(
    interval: float, commit: Callable[[ExperimentRecord], object]
) -> tuple[Checkpoints[tuple[Experiment, ExperimentRecord]], Callable[[ExperimentRecord], None]]:
    """Checkpoints of experiment "e" alone, each round's record to `commit`."""

    def each(batch: Batch) -> None:
        assert list(batch) == ["e"]
        commit(batch["e"][1])

    checkpoints = Checkpoints(interval, each)
    checkpoints.last = time.monotonic()  # no random phase: the first round at once
    return checkpoints, engine_checkpoint(checkpoints, experiment_named("e"))


def test_the_loop_does_not_wait_and_the_latest_record_is_committed_next() -> None:
    release, entered = threading.Event(), threading.Event()
    committed: list[int] = []

    def commit(record: ExperimentRecord) -> None:
        entered.set()
        release.wait(10)
        committed.append(len(record.trials))

    checkpoints, checkpoint = single(0.0, commit)
    record = record_of(1)
    began = time.monotonic()
    checkpoint(record)  # taken by the worker, which waits
    assert entered.wait(5)
    for count in (2, 3, 4):  # each replaces the one waiting
        record.trials.append(TrialRecord(f"e-{count}", ()))
        checkpoint(record)
    assert time.monotonic() - began < 1.0  # the loop never waited for a commit
    record.trials.append(TrialRecord("e-later", ()))  # after the hand-over: not in the copy
    release.set()
    wait_for(lambda: len(committed) == 2)
    checkpoints.close()
    assert committed == [1, 4]


def test_close_waits_for_the_commit_under_way() -> None:
    entered, done = threading.Event(), threading.Event()

    def commit(record: ExperimentRecord) -> None:
        entered.set()
        time.sleep(0.3)
        done.set()

    for name in ("e", None):  # the experiment's own close, and everyone's
        entered.clear()
        done.clear()
        checkpoints, checkpoint = single(0.0, commit)
        checkpoint(record_of(1))
        assert entered.wait(5)
        checkpoints.close(name)
        assert done.is_set()
        checkpoints.close()


def test_a_failed_commit_is_said_and_the_next_one_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def commit(record: ExperimentRecord) -> None:
        calls.append(len(record.trials))
        if len(calls) == 1:
            raise ControllerError("index.lock is held")
        if len(calls) == 2:
            raise ValueError("a bug")

    checkpoints, checkpoint = single(0.0, commit)
    with caplog.at_level(logging.WARNING, logger="hpo-controller"):
        for count in (1, 2, 3):
            checkpoint(record_of(count))
            wait_for(lambda: count in calls)  # noqa: B023 (called within the iteration)
    checkpoints.close()
    assert calls == [1, 2, 3]
    said = [r.getMessage() for r in caplog.records]
    assert "e: results not committed yet: index.lock is held" in said
    assert "e: internal error committing the results" in said


def test_an_ended_record_is_left_to_the_final_commit() -> None:
    committed: list[int] = []
    checkpoints, checkpoint = single(0.0, lambda r: committed.append(len(r.trials)))
    ended = record_of(2)
    ended.completion_time = "2026-01-01T00:01:00Z"
    checkpoint(ended)
    checkpoints.close()
    assert committed == []


def test_experiments_that_changed_share_a_round() -> None:
    """Ten experiments hand over records at their own times: each round takes every one
    that changed since the last, at once; none is committed twice in an interval, and a
    record handed over between rounds waits for the next (not dropped)."""
    interval = 0.4
    rounds: list[tuple[float, list[str]]] = []

    def commit(batch: Batch) -> None:
        rounds.append((time.monotonic(), sorted(batch)))

    names = [f"e{i}" for i in range(10)]
    experiments = [experiment_named(name) for name in names]
    began = time.monotonic()
    checkpoints = Checkpoints(interval, commit)
    offers = {e.name: engine_checkpoint(checkpoints, e) for e in experiments}
    while time.monotonic() - began < 5 * interval:
        for index, name in enumerate(names):  # each at a phase of its own
            if int((time.monotonic() - began) * 50) % 10 == index:
                offers[name](record_of(index + 1, name))
        time.sleep(0.005)
    checkpoints.close()
    assert len(rounds) >= 2
    assert all(batch == names for _, batch in rounds[:-1])  # every experiment, once a round
    first = rounds[0][0] - began
    assert interval * 0.9 <= first <= 2 * interval + 0.2  # after the interval, at a phase
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(rounds)]
    assert all(gap >= interval * 0.9 for gap in gaps)  # never twice an interval


def test_closing_one_experiment_drops_what_waits_for_it() -> None:
    """Its final commit comes after close(name): no older record of it is committed
    after that, while the others' still are."""
    committed: list[str] = []
    checkpoints = Checkpoints(0.3, lambda batch: committed.extend(batch))
    checkpoints.last = time.monotonic()
    for name in ("a", "b"):
        engine_checkpoint(checkpoints, experiment_named(name))(record_of(1, name))
    checkpoints.close("a")
    time.sleep(0.6)
    checkpoints.close()
    assert committed == ["b"]
