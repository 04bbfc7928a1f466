"""Commits of results while experiments run, so that what a killed controller had finished
is in git.

Rounds, at most one every `interval` seconds (the environment's commit_interval): each
round hands every experiment whose record changed since the last round to `commit` at
once, which makes one commit of them all and pushes it. A controller running ten
experiments so makes one commit and one push a round where it would make ten of each,
and no experiment is committed more than once an interval. A round runs on a thread of
its own: the run loop hands over its record (`engine_checkpoint` makes the engine's
callback, which keeps a copy) and goes on. A record handed over while a round is under
way, or before the interval is up, waits for the next round; a later one replaces it. An
experiment's end makes one more commit outside this, after `close(name)`. A commit or push
that fails is logged; the next round, or the final commit, carries its changes.

The first round comes a random part of an interval later than the interval: controllers
started together (a node's restart, a rollout) so push at phases of their own rather than
all at once, every interval, on the same forge."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, TypeVar

from controller.core.records import ExperimentRecord
from controller.errors import ControllerError
from generator.katib.models import Experiment

log = logging.getLogger("hpo-controller")
_PHASES = random.Random()  # of its own: draws here leave the random module's state alone

T = TypeVar("T")


class Checkpoints(Generic[T]):
    def __init__(self, interval: float, commit: Callable[[dict[str, T]], object]):
        self.interval, self.commit = interval, commit
        # When the last round began (the first: a random phase within one more interval).
        self.last = time.monotonic() + _PHASES.uniform(0.0, interval)
        self._changed = threading.Condition()
        self._waiting: dict[str, T] = {}
        self._committing: set[str] = set()
        self._worker: threading.Thread | None = None
        self._closed = False

    def offer(self, name: str, record: T) -> None:
        """`record` of experiment `name` (not changed afterwards by the caller), for the
        next round."""
        with self._changed:
            if self._closed:
                return
            self._waiting[name] = record
            if self._worker is None:  # the worker waits for the round's time, not for this
                self._worker = threading.Thread(target=self._work, name="checkpoint", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            with self._changed:
                while True:
                    if self._closed or not self._waiting:
                        self._worker = None
                        self._changed.notify_all()
                        return
                    wait = self.last + self.interval - time.monotonic()
                    if wait <= 0:
                        break
                    self._changed.wait(wait)
                self.last = time.monotonic()
                batch, self._waiting = self._waiting, {}
                self._committing = set(batch)
            try:
                self.commit(batch)
            except ControllerError as err:
                log.warning("%s: results not committed yet: %s", ", ".join(batch), err)
            except Exception:  # a bug: said, and the runs go on to their final commits
                log.exception("%s: internal error committing the results", ", ".join(batch))
            finally:
                with self._changed:
                    self._committing = set()
                    self._changed.notify_all()

    def close(self, name: str | None = None) -> None:
        """Take no more of `name`'s records, and wait for a round that is committing one;
        None: everyone's, for good (the round under way finishes first)."""
        with self._changed:
            if name is None:
                self._closed = True
                self._waiting.clear()
                self._changed.notify_all()
                while self._worker is not None:
                    self._changed.wait()
                return
            self._waiting.pop(name, None)
            while name in self._committing:
                self._changed.wait()


def engine_checkpoint(
    checkpoints: Checkpoints[tuple[Experiment, ExperimentRecord]], experiment: Experiment
) -> Callable[[ExperimentRecord], None]:
    """The engine's checkpoint callback for `experiment`: a copy of each record it saves,
    for the next round; an ended one is left to the final commit."""

    def offer(record: ExperimentRecord) -> None:
        if record.completion_time:
            return
        copy = replace(record, trials=list(record.trials))  # its trials are frozen records
        checkpoints.offer(experiment.name, (experiment, copy))

    return offer
