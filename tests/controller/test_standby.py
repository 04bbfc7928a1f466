"""The executor's standby: a trial held to start the moment a running trial exits, started
by the thread that sees the exit. What it promises the run loop: the exit names the trial
it started; a trial taken back never starts; nothing is held while the loop has an exit
to hear of; exits are heard in the order they took the standby; nothing starts from it
once the executor is shut down."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core.trialspec import Command
from controller.executors.local.executor import LocalExecutor, _Launch
from controller.ports import TrialExit

SLEEPER = Command((sys.executable, "-c", "import time; time.sleep(60)"), (), None)
TELLING = Command(
    (sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)"),
    (),
    None,
)
QUICK = Command((sys.executable, "-c", "print('accuracy=0.5')"), (), None)


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[LocalExecutor]:
    running = LocalExecutor(tmp_path, tmp_path / "logs", grace_seconds=0.5)
    yield running
    running.shutdown()


def next_exit(executor: LocalExecutor) -> TrialExit:
    exited = executor.next_exit(timeout=30)
    assert exited is not None, "no trial ended"
    return exited


def test_the_trial_on_standby_starts_when_a_running_trial_exits(
    executor: LocalExecutor,
) -> None:
    executor.start("first", SLEEPER)
    log = executor.standby("second", QUICK)
    assert log is not None and not log.exists()  # held, not started
    executor.stop("first")
    exited = next_exit(executor)
    assert exited == TrialExit("first", -15)
    assert executor.successor_of("first") == "second"
    assert next_exit(executor) == TrialExit("second", 0)
    assert log.read_text() == "accuracy=0.5\n"


def test_a_trial_taken_back_never_starts(executor: LocalExecutor) -> None:
    executor.start("first", SLEEPER)
    log = executor.standby("second", QUICK)
    assert log is not None
    assert executor.withdraw()
    executor.stop("first")
    assert next_exit(executor) == TrialExit("first", -15)
    assert executor.next_exit(timeout=0.2) is None
    assert not log.exists()


def test_taking_back_a_trial_that_has_started_says_so(executor: LocalExecutor) -> None:
    executor.start("first", SLEEPER)
    assert executor.standby("second", SLEEPER) is not None
    executor.stop("first")
    assert next_exit(executor) == TrialExit("first", -15)
    assert executor.successor_of("first") == "second"
    assert not executor.withdraw()
    executor.stop("second")
    assert next_exit(executor) == TrialExit("second", -15)


def test_nothing_is_held_while_an_exit_waits_to_be_heard(executor: LocalExecutor) -> None:
    """The loop picks the standby's trial knowing every trial that has ended; one that
    ended unheard might have ended the experiment or freed a slot."""
    executor.start("first", Command(("no-such-program",), (), None))  # ends at once: 127
    assert executor.standby("second", QUICK) is None
    assert next_exit(executor) == TrialExit("first", 127)
    assert executor.standby("second", QUICK) is not None


def test_only_one_trial_is_held(executor: LocalExecutor) -> None:
    assert executor.standby("second", QUICK) is not None
    assert executor.standby("third", QUICK) is None


def test_a_trial_on_standby_that_cannot_start_fails_with_127(executor: LocalExecutor) -> None:
    executor.start("first", SLEEPER)
    log = executor.standby("second", Command(("/no/such/trainer",), (), None))
    assert log is not None
    executor.stop("first")
    exited = next_exit(executor)
    assert exited == TrialExit("first", -15)
    assert executor.successor_of("first") == "second"
    assert next_exit(executor) == TrialExit("second", 127)
    assert log.read_text().startswith("cannot start '/no/such/trainer'")


def test_nothing_starts_from_the_standby_after_a_shutdown(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path, tmp_path / "logs", grace_seconds=0.5)
    executor.start("first", SLEEPER)
    log = executor.standby("second", QUICK)
    assert log is not None
    executor.shutdown()  # kills "first": its exit must not start "second"
    assert next_exit(executor) == TrialExit("first", -9)
    assert not log.exists()


class SlowStandby(LocalExecutor):
    """Holds the start of the standby's trial until told to go on."""

    def __init__(self, root: Path, logs: Path) -> None:
        super().__init__(root, logs, grace_seconds=0.5)
        self.starting = threading.Event()
        self.go_on = threading.Event()

    def _begin(self, launch: _Launch) -> object:  # type: ignore[override]
        if launch.trial == "third":
            self.starting.set()
            self.go_on.wait(timeout=30)
        return super()._begin(launch)


def test_exits_are_heard_in_the_order_they_took_the_standby(tmp_path: Path) -> None:
    """A trial that ends while another's exit is starting the standby's trial is heard of
    after it: were it heard of first, the loop would start a trial of its own in its slot
    without knowing of the one that has started, and give it the same name."""
    executor = SlowStandby(tmp_path, tmp_path / "logs")
    try:
        executor.start("first", SLEEPER)
        second = _told_pid(executor.start("second", TELLING))
        assert executor.standby("third", QUICK) is not None
        executor.stop("first")
        assert executor.starting.wait(timeout=30)  # first's exit is starting "third"
        executor.stop("second")
        _wait_until_reaped(second)  # its thread has seen it end
        executor.go_on.set()
        assert next_exit(executor) == TrialExit("first", -15)
        assert executor.successor_of("first") == "third"
        assert next_exit(executor) == TrialExit("second", -15)
    finally:
        executor.go_on.set()
        executor.shutdown()


def _told_pid(log: Path) -> int:
    for _ in range(3000):
        if log.read_text().endswith("\n"):
            return int(log.read_text())
        time.sleep(0.01)
    raise AssertionError("the trial did not say its process id")


def _wait_until_reaped(pid: int) -> None:
    for _ in range(3000):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} was not reaped")
