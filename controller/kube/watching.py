"""A live view of the objects of one kind that match a label selector, kept by a list and
then a watch from the list's resourceVersion, as client-go's informers keep theirs:

- every event and BOOKMARK moves the resourceVersion on, so a watch the server ends (its
  timeout, a dropped connection) resumes where it was, with nothing missed or repeated;
- a 410 Gone (the version is older than the server's history) lists again, and the
  objects that changed or went while nobody watched are told as MODIFIED or DELETED;
- API errors and an unreachable server are retried with a capped backoff, said once in
  the log, never raised into the caller.

`on_event(type, object)` is called on the watcher's thread, in the server's order."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from controller.kube.api import Kube, KubeError, Object, Resource

log = logging.getLogger("hpo-controller")

OnEvent = Callable[[str, Object], None]
WATCH_TIMEOUT = 240.0  # seconds a watch asks the server to keep it open
BACKOFF_CAP = 5.0


class Watcher:
    def __init__(
        self,
        kube: Kube,
        resource: Resource,
        namespace: str | None,
        selector: str,
        on_event: OnEvent,
        *,
        name: str = "watch",
    ):
        self.kube, self.resource, self.namespace = kube, resource, namespace
        self.selector, self.on_event = selector, on_event
        self.objects: dict[tuple[str, str], Object] = {}
        self.version = ""
        self.synced = threading.Event()  # the first list is in
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def get(self, namespace: str, name: str) -> Object | None:
        return self.objects.get((namespace, name))

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                if not self.version:
                    self._list()
                for kind, body in self.kube.watch(
                    self.resource, self.namespace, self.version, self.selector, WATCH_TIMEOUT
                ):
                    if self._stopped.is_set():
                        return
                    self._event(kind, body)
                    failures = 0
            except KubeError as err:
                if err.is_gone:
                    self.version = ""  # list again
                    continue
                failures += 1
                if failures == 1:
                    log.warning(
                        "watching %s: %s; trying again", self.resource.plural, err.detail or err
                    )
                delay = min(BACKOFF_CAP, 0.05 * 2**failures) * random.uniform(0.5, 1.0)
                self._stopped.wait(delay)
            except Exception:  # a bug in a handler: said, and the watch goes on
                log.exception("watching %s", self.resource.plural)
                self._stopped.wait(0.5)

    def _list(self) -> None:
        items, version = self.kube.list(self.resource, self.namespace, self.selector)
        seen = {}
        for body in items:
            metadata = body.get("metadata") or {}
            seen[(str(metadata.get("namespace", "")), str(metadata.get("name", "")))] = body
        gone = [key for key in self.objects if key not in seen]
        for key in gone:
            self.on_event("DELETED", self.objects.pop(key))
        for key, body in seen.items():
            known = self.objects.get(key)
            if known is None or _version(known) != _version(body):
                self.objects[key] = body
                self.on_event("ADDED" if known is None else "MODIFIED", body)
        self.version = version
        self.synced.set()

    def _event(self, kind: str, body: Object) -> None:
        metadata = body.get("metadata") or {}
        version = str(metadata.get("resourceVersion") or "")
        if kind == "BOOKMARK":
            self.version = version or self.version
            return
        key = (str(metadata.get("namespace", "")), str(metadata.get("name", "")))
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = body
        self.version = version or self.version
        self.on_event(kind, body)


def _version(body: Any) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")
