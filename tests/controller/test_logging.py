"""The controller's log lines: held back a moment and written together, by the handler's
own thread; warnings at once; all of them out when a run ends; a reader that went away
is no error."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.console.progress import BatchedStreamHandler, configure_logging
from controller.executors.local.executor import LocalExecutor
from tests.conftest import ProjectFactory, run_in_dev
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
    handler = BatchedStreamHandler(stream, delay=60)
    logger.addHandler(handler)
    logger.info("one")
    logger.info("two")
    assert stream.writes == []
    handler.flush()
    handler.flush()  # nothing held: nothing written
    assert stream.writes == ["one\ntwo\n"]


def test_held_lines_go_out_after_the_delay_without_a_flush(logger: logging.Logger) -> None:
    stream = Writes()
    logger.addHandler(BatchedStreamHandler(stream, delay=0.2))
    logger.info("one")
    logger.info("two")
    assert stream.writes == []
    for _ in range(500):
        if stream.writes:
            break
        time.sleep(0.01)
    assert stream.writes == ["one\ntwo\n"]
    logger.info("three")  # the writer thread serves the next batch too
    for _ in range(500):
        if len(stream.writes) == 2:
            break
        time.sleep(0.01)
    assert stream.writes == ["one\ntwo\n", "three\n"]


def test_a_warning_goes_out_at_once_after_what_was_held(logger: logging.Logger) -> None:
    stream = Writes()
    logger.addHandler(BatchedStreamHandler(stream, delay=60))
    logger.info("held")
    logger.warning("now")
    assert stream.writes == ["held\nnow\n"]


def test_a_reader_that_went_away_is_not_an_error(logger: logging.Logger) -> None:
    handler = BatchedStreamHandler(Gone())
    logger.addHandler(handler)
    logger.info("nobody reads this")
    logger.warning("nor this")
    handler.flush()


def test_a_run_has_written_all_it_said_when_it_returns(
    make_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = Writes()
    monkeypatch.setattr("sys.stderr", stream)
    for switch in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, switch, getattr(logging, switch))  # back after the test
    configure_logging("text", quiet=False)
    log = logging.getLogger("hpo-controller")
    handler = log.handlers[0]
    assert isinstance(handler, BatchedStreamHandler)
    handler.delay = 60  # nothing goes out by the clock during this run
    root = make_project()
    try:
        run_in_dev(trivial(max_trials=3, parallel=1), root, LocalExecutor(root, tmp_path / "logs"))
    finally:
        log.handlers.clear()
    # in order, every line, and in one write (the run's own at its end)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1:3] for line in lines] == [
        [f"loop-{n:04d}", word] for n in (1, 2, 3) for word in ("started", "Succeeded")
    ]
    assert len(stream.writes) == 1


def test_lines_logged_while_a_write_is_under_way_do_not_wait_for_it(
    logger: logging.Logger,
) -> None:
    """A thread that logs queues its line: it waits neither for the handler's lock nor for
    a write that holds it."""
    writing, release = threading.Event(), threading.Event()

    class Slow(Writes):
        def write(self, text: str) -> int:
            writing.set()
            release.wait(10)
            return super().write(text)

    stream = Slow()
    handler = BatchedStreamHandler(stream, delay=60)
    logger.addHandler(handler)
    logger.info("first")
    flushing = threading.Thread(target=handler.flush)
    flushing.start()
    assert writing.wait(10)  # the flush holds the lock, in the middle of its write
    logged = threading.Thread(target=lambda: [logger.info(f"line {i}") for i in range(100)])
    logged.start()
    logged.join(5)
    alive = logged.is_alive()
    release.set()
    flushing.join(10)
    assert not alive  # the hundred lines were queued while the write was held up
    handler.flush()
    assert stream.writes == ["first\n", "".join(f"line {i}\n" for i in range(100))]
