"""The threads that make the controller's workload requests (creates and deletes) for
every experiment it runs, so that a run's next event need not wait for the API server's
answer. Requests are taken in three classes, each in the order asked:

1. creates of trials that take an ended trial's slot: an experiment under way keeps its
   trials running (its successors wait for no other experiment's first trials);
2. the other creates: the first trials of an experiment that has just started, which the
   API server takes as it has room (100 experiments synced at once ask for 1,000);
3. deletes of ended trials' workloads, which nothing waits for."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

REPLACEMENT, FIRST, DELETE = 0, 1, 2
_END = 3  # after everything asked before the shutdown


class Requests:
    """`threads` threads taking requests from one queue, in the order above."""

    def __init__(self, threads: int, name: str = "requests"):
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, kind: int, call: Callable[..., None], *args: Any) -> Future[None]:
        """Make the call on one of the threads, after those of a more urgent `kind` and
        those of its own asked before it."""
        future: Future[None] = Future()
        self._queue.put((kind, next(self._order), (future, call, args)))
        return future

    def shutdown(self) -> None:
        """Make what was asked, then end the threads."""
        for _ in self._threads:
            self._queue.put((_END, next(self._order), None))
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (item := self._queue.get()[2]) is not None:
            future, call, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                call(*args)
            except BaseException as err:  # told to whoever waits for it
                future.set_exception(err)
            else:
                future.set_result(None)
