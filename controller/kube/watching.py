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
import queue
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


class SharedWatches:
    """One watch per kind for every subscriber in a namespace, as client-go's shared
    informers give a controller: objects that carry `label` are watched once, and each
    event goes to the subscriber of the object's value of that label (an experiment's
    executor, for the workloads labelled with its name). A hundred experiments make one
    watch of Jobs, not a hundred. Each subscriber hears its events in order on a thread
    of its own, so one that takes its time (reading a trial's last lines) holds up no
    other."""

    def __init__(self, kube: Kube, namespace: str | None, label: str):
        self.kube, self.namespace, self.label = kube, namespace, label
        self._watchers: dict[Resource, Watcher] = {}
        self._subscribers: dict[tuple[Resource, str], Subscription] = {}
        self._lock = threading.Lock()

    def subscribe(self, resource: Resource, value: str, on_event: OnEvent) -> Subscription:
        """Events of `resource` objects whose label is `value`, from now on; the watch of
        that kind is started (and its first list waited for) on the first subscription."""
        with self._lock:
            watcher = self._watchers.get(resource)
            if watcher is None:
                watcher = self._watchers[resource] = Watcher(
                    self.kube,
                    resource,
                    self.namespace,
                    self.label,  # the label's existence
                    lambda kind, body: self._event(resource, kind, body),
                    name=f"watch-{resource.plural}",
                )
                watcher.start()
            subscription = Subscription(self, resource, value, watcher, on_event)
            self._subscribers[(resource, value)] = subscription
            # What the watch knows already comes first, as ADDED (an informer's new
            # handler hears the cache so): a late subscriber misses no object. Under the
            # lock, so that no event of the watch overtakes it.
            for body in list(watcher.objects.values()):
                if self._value(body) == value:
                    subscription.put("ADDED", body)
        watcher.synced.wait(timeout=30)
        return subscription

    def _value(self, body: Object) -> str:
        return str(((body.get("metadata") or {}).get("labels") or {}).get(self.label))

    def _event(self, resource: Resource, kind: str, body: Object) -> None:
        with self._lock:
            subscription = self._subscribers.get((resource, self._value(body)))
            if subscription is not None:
                subscription.put(kind, body)

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            key = (subscription.resource, subscription.value)
            if self._subscribers.get(key) is subscription:
                del self._subscribers[key]

    def stop(self) -> None:
        with self._lock:
            watchers = list(self._watchers.values())
            subscriptions = list(self._subscribers.values())
            self._watchers.clear()
            self._subscribers.clear()
        for watcher in watchers:
            watcher.stop()
        for subscription in subscriptions:
            subscription.stop()


class Subscription:
    """One subscriber's view of a shared watch: its objects' cache, its events told in
    order on a thread of its own, and its end."""

    def __init__(
        self,
        shared: SharedWatches,
        resource: Resource,
        value: str,
        watcher: Watcher,
        on_event: OnEvent,
    ):
        self._shared, self.resource, self.value = shared, resource, value
        self._watcher, self._on_event = watcher, on_event
        self.synced = watcher.synced
        self._events: queue.SimpleQueue[tuple[str, Object] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name=f"events-{resource.plural}-{value}", daemon=True
        )
        self._thread.start()

    def get(self, namespace: str, name: str) -> Object | None:
        return self._watcher.get(namespace, name)

    def put(self, kind: str, body: Object) -> None:
        self._events.put((kind, body))

    def stop(self) -> None:
        self._shared._unsubscribe(self)
        self._events.put(None)

    def _run(self) -> None:
        while (item := self._events.get()) is not None:
            try:
                self._on_event(*item)
            except Exception:  # a subscriber's bug must not end its events
                log.exception("%s of %s: a watch event failed", self.resource.kind, self.value)
