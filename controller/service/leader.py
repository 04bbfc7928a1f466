"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does
it, so that two replicas of hpo-controller never drive the same experiments:

- a replica takes the Lease when nobody holds it, or when its holder has not renewed it
  for leaseDurationSeconds *as this replica has observed it* (its own clock measures how
  long the record has been unchanged: clocks of different nodes are never compared);
- every write names the resourceVersion read, so of two replicas racing for it, one
  wins and the other gets a 409 and stays a follower;
- the leader renews it every `renew` seconds and gives up leading when it could not
  renew for `deadline` seconds (shorter than the lease: it stops before another may
  start); on a clean shutdown it releases the Lease so a successor starts at once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controller.kube.api import LEASES, Kube, KubeError

log = logging.getLogger("hpo-controller")


def micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Leadership:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        *,
        duration: float = 15.0,
        renew: float = 2.0,
        deadline: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.duration, self.renew, self.deadline, self.clock = duration, renew, deadline, clock
        self.leading = threading.Event()
        self._observed: tuple[str, float] | None = None  # (the record's text, when seen)
        self._renewed_at = 0.0
        self._failing = False

    def attempt(self) -> bool:
        """Take or renew the Lease once; whether this replica leads now."""
        now = self.clock()
        try:
            lease = self.kube.get(LEASES, self.namespace, self.name)
            if lease is None:
                self.kube.create(LEASES, self.namespace, self._lease(None, transitions=0))
                return self._won(now)
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            record = repr(sorted(spec.items()))
            if self._observed is None or self._observed[0] != record:
                self._observed = (record, now)
            if holder and holder != self.identity:
                unchanged_for = now - self._observed[1]
                if unchanged_for < float(spec.get("leaseDurationSeconds") or self.duration):
                    return self._lost()
            transitions = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
            self.kube.replace(LEASES, self.namespace, self.name, self._lease(lease, transitions))
            return self._won(now)
        except KubeError as err:
            if not err.is_conflict and not self._failing:  # said once per streak
                log.warning("lease %s/%s: %s", self.namespace, self.name, err.detail or err)
            self._failing = not err.is_conflict
            if self.leading.is_set() and now - self._renewed_at < self.deadline:
                return True  # not renewed this time; still within the deadline
            return self._lost()

    def release(self) -> None:
        """Let a successor take over at once (a clean shutdown)."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        try:
            lease = self.kube.get(LEASES, self.namespace, self.name)
            if (
                lease is not None
                and (lease.get("spec") or {}).get("holderIdentity") == self.identity
            ):
                body = self._lease(
                    lease, int((lease.get("spec") or {}).get("leaseTransitions") or 0)
                )
                body["spec"]["holderIdentity"] = ""
                body["spec"]["leaseDurationSeconds"] = 1
                self.kube.replace(LEASES, self.namespace, self.name, body)
        except KubeError as err:
            log.warning("lease %s/%s not released: %s", self.namespace, self.name, err)

    def keep(self, stop: threading.Event, on_lost: Callable[[], None]) -> None:
        """Renew until `stop` or until leadership is lost (then `on_lost()`)."""
        while not stop.wait(self.renew):
            if not self.attempt():
                on_lost()
                return

    def wait_to_lead(self, stop: threading.Event, retry: float | None = None) -> bool:
        """Try until this replica leads (True) or `stop` is set (False)."""
        while not stop.is_set():
            if self.attempt():
                return True
            stop.wait(retry or self.renew)
        return False

    def _won(self, now: float) -> bool:
        self._failing = False
        if not self.leading.is_set():
            log.info("leading: lease %s/%s held by %s", self.namespace, self.name, self.identity)
        self.leading.set()
        self._renewed_at = now
        return True

    def _lost(self) -> bool:
        if self.leading.is_set():
            log.warning("no longer leading: lease %s/%s", self.namespace, self.name)
        self.leading.clear()
        return False

    def _lease(self, current: dict[str, Any] | None, transitions: int) -> dict[str, Any]:
        spec = dict((current or {}).get("spec") or {})
        taking = spec.get("holderIdentity") != self.identity
        now = micro_time()
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.duration),
            renewTime=now,
            leaseTransitions=transitions,
        )
        if taking or "acquireTime" not in spec:
            spec["acquireTime"] = now
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if current is not None:
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }
