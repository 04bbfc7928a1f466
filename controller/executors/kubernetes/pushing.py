"""Katib's Push collector in the cluster: a trial reports its metrics to the controller
over HTTP, and the controller appends them to the trial's metrics file, where the Push
collector reads them as it reads a local trial's.

Each trial is told where to report and with what token in its containers' environment
(`HPO_PUSH_METRICS_URL`, `HPO_PUSH_METRICS_TOKEN`; `trainers.report_metrics` reads both).
A token is an HMAC of the trial's namespace and name under a key that only the controller
holds, so one trial's token is worth nothing for another trial, and a controller that takes
over (a restart, a new leader) accepts the tokens of the trials it adopts: the key lives
in a Secret of the namespace, made by the first controller that needs it.

    POST /v1/metrics/<namespace>/<trial>
    Authorization: Bearer <token>
    {"accuracy": 0.93, "loss": "0.21", "timestamp": "2026-12-05T10:00:00Z"}

Answers: 204 stored; 400 not a JSON object of metric values; 401 no or a wrong token;
404 a trial this controller does not run; 413 a body over 64 KiB. Only the leading
replica listens; a report that reaches a standby one is refused at connect, and the
trainer tries again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from controller.errors import ControllerError
from controller.kube.api import Kube, KubeError, Resource

log = logging.getLogger("hpo-controller")

SECRETS = Resource.of("v1", "Secret")
KEY_SECRET = "hpo-controller-push"
URL_ENVIRONMENT = "HPO_PUSH_METRICS_URL"
TOKEN_ENVIRONMENT = "HPO_PUSH_METRICS_TOKEN"
LIMIT = 64 * 1024
_PREFIX = "/v1/metrics/"


def push_key(kube: Kube, namespace: str) -> bytes:
    """The namespace's push key: read from its Secret, or made (32 random bytes) and
    stored there by the first controller to need it (a race is decided by the create)."""
    for _ in range(3):
        body = kube.get(SECRETS, namespace, KEY_SECRET)
        if body is not None:
            data = (body.get("data") or {}).get("key")
            try:
                key = base64.b64decode(str(data), validate=True) if data else b""
            except ValueError:
                key = b""
            if len(key) < 32:
                raise ControllerError(
                    f"the Secret {namespace}/{KEY_SECRET} holds no push key of 32 bytes or "
                    "more (data.key, base64): delete it and hpo-controller makes a new one"
                )
            return key
        key = secrets.token_bytes(32)
        made = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": KEY_SECRET,
                "labels": {"app.kubernetes.io/part-of": "hpo-gen"},
            },
            "type": "Opaque",
            "data": {"key": base64.b64encode(key).decode()},
        }
        try:
            kube.create(SECRETS, namespace, made)
            return key
        except KubeError as err:
            if not err.is_conflict:
                raise ControllerError(
                    f"the push key's Secret {namespace}/{KEY_SECRET} could not be made: "
                    f"{err.detail or err}"
                ) from err
    raise ControllerError(f"the Secret {namespace}/{KEY_SECRET} keeps changing")


class PushReceiver:
    """The HTTP endpoint trials push their metrics to. `base`: the URL trials reach it
    by (the controller's Service; empty: this machine's loopback)."""

    def __init__(
        self,
        key: bytes,
        base: str,
        port: int = 0,
        host: str = "0.0.0.0",
    ):
        self._key = key
        self._files: dict[tuple[str, str], Path] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.base = base.rstrip("/") if base else f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="push").start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def token(self, namespace: str, trial: str) -> str:
        return hmac.new(self._key, f"{namespace}/{trial}".encode(), hashlib.sha256).hexdigest()

    def register(self, namespace: str, trial: str, metrics: Path) -> dict[str, str]:
        """Take `trial`'s reports into `metrics` from now on; the environment the trial's
        containers are to get."""
        with self._lock:
            self._files[(namespace, trial)] = metrics
        return {
            URL_ENVIRONMENT: f"{self.base}{_PREFIX}{namespace}/{trial}",
            TOKEN_ENVIRONMENT: self.token(namespace, trial),
        }

    def forget(self, namespace: str, trial: str) -> None:
        with self._lock:
            self._files.pop((namespace, trial), None)

    def receive(self, path: str, authorization: str, body: bytes) -> tuple[int, str]:
        """Store one report: the HTTP status and what to answer."""
        if not path.startswith(_PREFIX):
            return 404, "not found"
        parts = path[len(_PREFIX) :].split("/")
        if len(parts) != 2 or not all(parts):
            return 404, "the path is /v1/metrics/<namespace>/<trial>"
        namespace, trial = parts
        given = authorization.removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given, self.token(namespace, trial)):
            return 401, "no token, or not this trial's token"
        with self._lock:
            target = self._files.get((namespace, trial))
        if target is None:
            return 404, f"trial {namespace}/{trial} is not running here"
        try:
            line = report_line(body)
        except ValueError as err:
            return 400, str(err)
        with self._lock, target.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")
        return 204, ""


def report_line(body: bytes) -> str:
    """A report as one JSON line of metric values (numbers, or numbers written as
    strings) and an optional timestamp; ValueError says what is wrong with it."""
    try:
        record = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"the body is not JSON: {err}") from err
    if not isinstance(record, dict) or not record:
        raise ValueError('the body is a JSON object of metric values, e.g. {"accuracy": 0.9}')
    kept: dict[str, Any] = {}
    for name, value in record.items():
        if name == "timestamp" and isinstance(value, str):
            kept[name] = value[:64]
            continue
        if not name or len(name) > 256:
            raise ValueError(f"metric name {name[:40]!r} must have 1 to 256 characters")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"metric {name!r} must be a number, got {value!r:.40}")
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                raise ValueError(f"metric {name!r} must be a number, got {value!r:.40}") from None
        elif isinstance(value, float) and not math.isfinite(value):
            value = repr(value)  # nan and inf are kept as the words the collector reads
        kept[name] = value
    return json.dumps(kept, separators=(",", ":"))


def _handler(receiver: PushReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > LIMIT:
                self._send(413, f"a report is at most {LIMIT} bytes")
                return
            body = self.rfile.read(length)
            code, said = receiver.receive(
                self.path.split("?", 1)[0], self.headers.get("Authorization", ""), body
            )
            if code >= 400:
                log.warning("metrics pushed to %s refused: %s %s", self.path[:200], code, said)
            self._send(code, said)

        def do_GET(self) -> None:
            self._send(405, "metrics are pushed with POST")

        def _send(self, code: int, said: str) -> None:
            body = (said + "\n").encode() if said else b""
            self.send_response(code)
            if body:
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler
