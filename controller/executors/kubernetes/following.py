"""A trial's primary container's output (or its metrics relay's), followed through the
API's log endpoint into a local file, line by line as it comes:

- the primary pod is the first (by name) that carries the trial's label and the
  template's primaryPodLabels; it is looked for until it exists and its container has
  started (a pending pod is waited for, not a failure);
- lines are asked with timestamps, and a follow that breaks resumes with `sinceTime` from
  the last one, skipping what was had already;
- a container that restarted is read to its end through `previous` before its successor;
- a log that is gone (the pod deleted, the node lost it) ends the following with a note
  in the file; the trial's object still decides how it ended."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from controller.kube.api import PODS, Kube, KubeError, Object

log = logging.getLogger("hpo-controller")
POLL = 0.2
CACHED_CAP = 2.0  # the longest pause between looks at a cache that says when it changes
LISTED_CAP = 2.0  # the longest pause between looks through the API (a request each)
# How long a follower whose workload ended waits for the cache to show its started
# container before it asks the API (the pod's events come on another watch than the
# workload's, and usually a moment later).
CACHE_GRACE = 1.0


class LogFollower:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        trial: str,
        selector: str,
        container: str,
        path: Path,
        pods: Callable[[], list[Object]] | None = None,
        then: Callable[[], None] | None = None,
    ):
        """`pods`: the trial's primary pods from a watch's cache, whose keeper calls
        `poke()` when they change (None: listed through the API, with a growing pause
        between looks); `then`: called once the following is over (`done`)."""
        self.kube, self.namespace, self.trial = kube, namespace, trial
        self.selector, self.container, self.path = selector, container, path
        self.pods = pods
        # A cache's keeper wakes the follower when the pod changes: the pause between
        # looks is then only a safety net.
        self._cap = CACHED_CAP if pods is not None else LISTED_CAP
        self.last = ""  # the timestamp of the last line written
        self.restarts = 0
        self.pod: str | None = None
        self.gone = False  # the pod followed is no longer there
        self._stopped = threading.Event()
        self._ended = threading.Event()  # the workload ended: read to the end, then stop
        self._changed = threading.Event()  # worth another look: the pod changed, or ended
        self._done = threading.Event()
        self._then = then
        self._thread = threading.Thread(target=self._run, name=f"logs-{trial}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def end(self) -> None:
        """The trial ended: read its output to the end, then stop."""
        self._ended.set()
        self._changed.set()

    @property
    def done(self) -> bool:
        """Whether the following is over: the output is all in the file, or it stopped."""
        return self._done.is_set()

    def poke(self) -> None:
        """The trial's pods changed (the cache's keeper says): look again now."""
        self._changed.set()

    def stop(self) -> None:
        self._stopped.set()
        self._changed.set()

    def _run(self) -> None:
        try:
            with self.path.open("ab") as out:
                self._follow(out)
        except OSError as err:
            log.warning("trial %s: its output cannot be kept: %s", self.trial, err)
        finally:
            self._done.set()
            if self._then is not None:
                self._then()

    def _follow(self, out: BinaryIO) -> None:
        delay = POLL
        graced = False  # waited for the cache once the workload ended
        while not self._stopped.is_set():
            self._changed.clear()  # before the look: a change after it looks again
            ended = self._ended.is_set()
            try:
                state = self._state()
            except KubeError:  # the API, not the pod: look again
                delay = self._pause(self._stopped, delay)
                continue
            if state is None and self.gone:
                self._gone(out)
                return
            if state is None and ended and self.pods is not None:
                # The workload's end may come before its pod's events (another watch):
                # they are waited for a moment, then the API says whether the pod is there.
                if not graced:
                    graced = True
                    self._changed.wait(CACHE_GRACE)
                    continue
                try:
                    state = self._state(listed=True)
                except KubeError:
                    delay = self._pause(self._stopped, delay)
                    continue
            if state is None:  # no pod yet, or not started: wait
                if ended:  # the workload ended with no started container of ours
                    return
                delay = self._pause(self._changed, delay)  # a change or an end: at once
                continue
            restarts, terminated = state
            if restarts > self.restarts:  # the earlier container's end, then the new one
                self._read(out, previous=True)
                self.restarts = restarts
            try:
                self._read(out, follow=not terminated)
            except KubeError as err:
                if err.is_not_found:
                    self._gone(out)
                    return
                delay = self._pause(self._stopped, delay)
                continue
            if terminated:
                return
            # The follow ended with the container still running when looked at: the next
            # look finds it terminated (and reads its end) or resumes the follow.

    @staticmethod
    def _gone(out: BinaryIO) -> None:
        out.write(b"[hpo-controller] the trial's pod is gone; its log ends here\n")
        out.flush()

    def _pause(self, event: threading.Event, delay: float) -> float:
        """Wait `delay` (less if `event` is set); the next, longer delay."""
        event.wait(delay)
        return min(delay * 1.5, self._cap)

    def _state(self, listed: bool = False) -> tuple[int, bool] | None:
        """(restart count, terminated) of the primary container; None before it starts.
        `listed`: from the API even where a watch's cache is at hand."""
        if self.pods is not None and not listed:
            pods = self.pods()
        else:
            pods, _ = self.kube.list(PODS, self.namespace, self.selector)
        pods.sort(key=lambda p: str(p.get("metadata", {}).get("name", "")))
        if not pods:
            self.gone = self.pod is not None  # it was there, and is no more
            return None
        pod = pods[0]
        self.pod = str(pod["metadata"]["name"])
        status_of = pod.get("status") or {}
        statuses = [  # a sidecar (an init container that keeps running) is among the first
            *(status_of.get("initContainerStatuses") or []),
            *(status_of.get("containerStatuses") or []),
        ]
        for status in statuses:
            if status.get("name") != self.container:
                continue
            state: dict[str, Any] = status.get("state") or {}
            if "running" in state or "terminated" in state:
                return int(status.get("restartCount") or 0), "terminated" in state
        return None

    def _read(self, out: BinaryIO, follow: bool = False, previous: bool = False) -> None:
        assert self.pod is not None
        lines = self.kube.log(
            self.namespace,
            self.pod,
            self.container,
            follow=follow,
            since_time=None if previous else (self.last or None),
            timestamps=True,
            previous=previous,
        )
        for line in lines:
            at, _, text = line.partition(" ")
            if at <= self.last:  # had already (a resumed follow repeats its second)
                continue
            self.last = at
            out.write(text.encode() + b"\n")
            out.flush()
            if self._stopped.is_set():
                return
