"""The controller's log lines: held back within a turn of the run loop and written in one
go before the loop waits; warnings at once; a reader that went away is no error."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.gitrepo import GitRepo
from controller.local import LocalExecutor, TrialExit
from controller.progress import BatchedStreamHandler, configure_logging
from controller.running import run_experiment
from controller.statusfile import GitStatusSink
from tests.conftest import ProjectFactory
from tests.controller.test_run_loop import trivial


class Writes(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


class Gone(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("test-batched")
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log
    for handler in log.handlers[:]:
        if isinstance(handler, BatchedStreamHandler):
            log.removeHandler(handler)


def test_lines_wait_for_a_flush_and_go_out_in_one_write(logger: logging.Logger) -> None:
    stream = Writes()
    handler = BatchedStreamHandler(stream)
    logger.addHandler(handler)
    logger.info("one")
    logger.info("two")
    assert stream.writes == []
    handler.flush()
    handler.flush()  # nothing held: nothing written
    assert stream.writes == ["one\ntwo\n"]


def test_a_warning_goes_out_at_once_after_what_was_held(logger: logging.Logger) -> None:
    stream = Writes()
    logger.addHandler(BatchedStreamHandler(stream))
    logger.info("held")
    logger.warning("now")
    assert stream.writes == ["held\nnow\n"]


def test_a_reader_that_went_away_is_not_an_error(logger: logging.Logger) -> None:
    handler = BatchedStreamHandler(Gone())
    logger.addHandler(handler)
    logger.info("nobody reads this")
    logger.warning("nor this")
    handler.flush()


class Watching(LocalExecutor):
    """Looks, each time the loop is about to wait, at what the log stream has been given."""

    def __init__(self, root: Path, logs: Path, stream: Writes):
        super().__init__(root, logs)
        self.stream = stream
        self.seen_before_waits: list[str] = []

    def next_exit(self, timeout: float | None = None) -> TrialExit | None:
        self.seen_before_waits.append(self.stream.getvalue())
        return super().next_exit(timeout)


def test_the_run_loop_writes_what_it_said_before_it_waits(
    make_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = Writes()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("text", quiet=False)
    root = make_project()
    executor = Watching(root, tmp_path / "logs", stream)
    try:
        run_experiment(
            trivial(max_trials=3, parallel=1),
            environment="dev",
            executor=executor,
            sink=GitStatusSink(GitRepo(root), "dev"),
        )
    finally:
        executor.shutdown()
        logging.getLogger("hpo-controller").handlers.clear()
    # each wait finds the start of the trial it waits for already written, with the end
    # of the one before it
    for number, seen in enumerate(executor.seen_before_waits[:3], start=1):
        assert f"hpo-controller: loop-{number:04d} started" in seen
        if number > 1:
            assert f"hpo-controller: loop-{number - 1:04d} Succeeded (accuracy=0.5)" in seen
    assert stream.getvalue().count("Succeeded") == 3
    assert len(stream.writes) <= 4  # one write per turn, not one per line
