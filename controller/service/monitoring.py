"""What `hpo-controller serve` tells Prometheus and the kubelet: Katib's controller metrics
under Katib's names (`katib_experiment_*_total`, `katib_experiments_current`,
`katib_trial_*_total`, `katib_trials_current`, by namespace), a histogram of trial
durations, and the probes `/healthz` (the process answers) and `/readyz` (it leads and
its watch has listed the Experiments, or it is a standby follower). One small HTTP
server per port; `/metrics` on the metrics port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from controller.core.records import ExperimentRecord, TrialState

_TRIAL_COUNTERS = {
    TrialState.SUCCEEDED: "succeeded",
    TrialState.FAILED: "failed",
    TrialState.METRICS_UNAVAILABLE: "metrics_unavailable",
}


class Monitor:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry

        def counter(name: str, text: str) -> Counter:
            return Counter(name, text, ["namespace"], registry=r)

        self.experiments = {
            what: counter(f"katib_experiment_{what}", f"The total number of {what} experiments")
            for what in ("created", "succeeded", "failed", "deleted")
        }
        self.experiments_current = Gauge(
            "katib_experiments_current",
            "The number of current experiments, by the type of their last condition",
            ["namespace", "status"],
            registry=r,
        )
        self.trials = {
            what: counter(
                f"katib_trial_{what}", f"The total number of {what.replace('_', ' ')} trials"
            )
            for what in ("created", "succeeded", "failed", "metrics_unavailable", "deleted")
        }
        self.trials_current = Gauge(
            "katib_trials_current",
            "The number of current trials, by state",
            ["namespace", "status"],
            registry=r,
        )
        self.trial_seconds = Histogram(
            "hpo_trial_duration_seconds",
            "Seconds from a trial's start to its end, by how it ended",
            ["namespace", "state"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
            registry=r,
        )
        self._lock = threading.Lock()
        # Each metric's child for a set of label values, found once: prometheus_client's
        # labels() builds and looks up its key under a lock of its own at every call.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._seen: dict[tuple[str, str], dict[str, TrialState]] = {}
        self._states: dict[tuple[str, str], str] = {}  # experiment -> its last condition

    def _of(self, metric: Counter | Gauge | Histogram, *values: str) -> Any:
        """The metric's child for these label values."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:  # two threads may both ask: labels() gives both the same child
            child = self._children[key] = metric.labels(*values)
        return child

    # -- experiments ------------------------------------------------------------------------

    def experiment_created(self, namespace: str) -> None:
        self._of(self.experiments["created"], namespace).inc()

    def experiment_deleted(self, namespace: str, name: str) -> None:
        """The object is gone, and its trials with it."""
        self._of(self.experiments["deleted"], namespace).inc()
        with self._lock:
            state = self._states.pop((namespace, name), None)
            trials = self._seen.pop((namespace, name), {})
        if state is not None:
            self._of(self.experiments_current, namespace, state).dec()
        for trial_state in trials.values():
            self._of(self.trials_current, namespace, trial_state.value).dec()
        if trials:
            self._of(self.trials["deleted"], namespace).inc(len(trials))

    def experiment_state(self, namespace: str, name: str, state: str) -> None:
        """The experiment's last condition is now `state` (Created, Running, Succeeded,
        Failed); an end counts once."""
        with self._lock:
            before = self._states.get((namespace, name))
            if before == state:
                return
            self._states[(namespace, name)] = state
        if before is not None:
            self._of(self.experiments_current, namespace, before).dec()
        self._of(self.experiments_current, namespace, state).inc()
        if state in ("Succeeded", "Failed"):
            self._of(self.experiments[state.lower()], namespace).inc()

    # -- trials -----------------------------------------------------------------------------

    def baseline(self, namespace: str, record: ExperimentRecord) -> None:
        """What a resumed run had before this process: not counted again."""
        with self._lock:
            self._seen[(namespace, record.name)] = {t.name: t.state for t in record.trials}
        for trial in record.trials:
            self._of(self.trials_current, namespace, trial.state.value).inc()

    def observe(self, namespace: str, record: ExperimentRecord) -> None:
        """Count what changed since the record was last seen."""
        with self._lock:
            seen = self._seen.setdefault((namespace, record.name), {})
            changes = [
                (t, seen.get(t.name)) for t in record.trials if seen.get(t.name) is not t.state
            ]
            for trial, _ in changes:
                seen[trial.name] = trial.state
        for trial, before in changes:
            if before is None:
                self._of(self.trials["created"], namespace).inc()
            else:
                self._of(self.trials_current, namespace, before.value).dec()
            self._of(self.trials_current, namespace, trial.state.value).inc()
            counted = _TRIAL_COUNTERS.get(trial.state)
            if counted is not None:
                self._of(self.trials[counted], namespace).inc()
            if not trial.state.is_active and trial.start_time and trial.completion_time:
                seconds = _seconds(trial.start_time, trial.completion_time)
                if seconds is not None:
                    self._of(self.trial_seconds, namespace, trial.state.value).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _seconds(start: str, end: str) -> float | None:
    try:
        began = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((ended - began).total_seconds(), 0.0)


class Endpoints:
    """The probe and metrics servers (the same routes on each port)."""

    def __init__(
        self,
        monitor: Monitor,
        alive: Callable[[], bool],
        ready: Callable[[], bool],
        ports: tuple[int, ...],
        host: str = "0.0.0.0",
    ):
        handler = _handler(monitor, alive, ready)
        self.servers = [ThreadingHTTPServer((host, port), handler) for port in ports]
        for server in self.servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def ports(self) -> list[int]:
        return [int(server.server_address[1]) for server in self.servers]

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _handler(
    monitor: Monitor, alive: Callable[[], bool], ready: Callable[[], bool]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, monitor.exposition(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = alive()
                self._send(200 if ok else 500, b"ok\n" if ok else b"stuck\n")
            elif path == "/readyz":
                ok = ready()
                self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
