"""Commits as a run goes, on a thread of their own: the run loop hands over a copy of the
record and goes on; the latest copy is committed next; `close()` waits; a failed commit is
said and the next one carries its changes."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from controller.core.records import ExperimentRecord, TrialRecord
from controller.errors import ControllerError
from controller.service.run import Checkpoints


def record_of(trials: int) -> ExperimentRecord:
    return ExperimentRecord(
        "e", None, [TrialRecord(f"e-{i}", ()) for i in range(trials)], "2026-01-01T00:00:00Z"
    )


def test_the_loop_does_not_wait_and_the_latest_record_is_committed_next() -> None:
    release, entered = threading.Event(), threading.Event()
    committed: list[int] = []

    def commit(record: ExperimentRecord) -> None:
        entered.set()
        release.wait(10)
        committed.append(len(record.trials))

    checkpoints = Checkpoints(0.0, commit)
    record = record_of(1)
    began = time.monotonic()
    checkpoints(record)  # taken by the worker, which waits
    assert entered.wait(5)
    for count in (2, 3, 4):  # each replaces the one waiting
        record.trials.append(TrialRecord(f"e-{count}", ()))
        checkpoints(record)
    assert time.monotonic() - began < 1.0  # the loop never waited for a commit
    record.trials.append(TrialRecord("e-later", ()))  # after the hand-over: not in the copy
    release.set()
    checkpoints.close()
    assert committed == [1, 4]


def test_close_waits_for_the_commit_under_way() -> None:
    done = threading.Event()

    def commit(record: ExperimentRecord) -> None:
        time.sleep(0.3)
        done.set()

    checkpoints = Checkpoints(0.0, commit)
    checkpoints(record_of(1))
    checkpoints.close()
    assert done.is_set()


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

    checkpoints = Checkpoints(0.0, commit)
    with caplog.at_level(logging.WARNING, logger="hpo-controller"):
        for count in (1, 2, 3):
            checkpoints(record_of(count))
            checkpoints.close()
    assert calls == [1, 2, 3]
    said = [r.getMessage() for r in caplog.records]
    assert "e: results not committed yet: index.lock is held" in said
    assert "e: internal error committing the results" in said


def test_no_commit_within_the_interval_or_after_the_end() -> None:
    committed: list[int] = []
    checkpoints = Checkpoints(3600.0, lambda r: committed.append(len(r.trials)))
    checkpoints(record_of(1))
    ended = record_of(2)
    ended.completion_time = "2026-01-01T00:01:00Z"
    Checkpoints(0.0, lambda r: committed.append(len(r.trials)))(ended)
    checkpoints.close()
    assert committed == []
