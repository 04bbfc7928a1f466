"""A Kubernetes API server in one process, for tests: HTTP on loopback, spoken to by the
`kubernetes` client as to a real one. It keeps objects the way the API server does where
the controller depends on it:

- every write bumps one resourceVersion counter; an update or patch that names an older
  resourceVersion is a 409 Conflict; a create of an existing name is a 409 AlreadyExists;
- kinds with a status subresource take `.status` only through `/status`, and ignore it
  in writes to the object itself (and the reverse);
- lists filter by label selector (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and by
  `metadata.name` field selector, and return the list's resourceVersion;
- watches stream newline-delimited events from a resourceVersion, with BOOKMARK events
  when asked, an ERROR event with a 410 Status for a resourceVersion older than the
  history kept (`compact()`), and end at `timeoutSeconds`;
- deletes honour finalizers (deletionTimestamp set, the object stays until they are
  removed) and collect dependents through ownerReferences (background propagation);
- pod logs, per container, with `follow`, `sinceTime`, `timestamps`, `tailLines`, and
  `previous` for a restarted container.

Faults are injected on purpose: `fail(method, pattern, status, times)` answers the next
matching requests with an error, `drop_watches()` cuts every open watch. `requests`
counts what was asked, by verb."""

from __future__ import annotations

import bisect
import functools
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = True  # has the status subresource


KINDS = [
    Kind("", "v1", "pods", "Pod"),
    Kind("", "v1", "configmaps", "ConfigMap", status=False),
    Kind("", "v1", "secrets", "Secret", status=False),
    Kind("", "v1", "events", "Event", status=False),
    Kind("coordination.k8s.io", "v1", "leases", "Lease", status=False),
    Kind("batch", "v1", "jobs", "Job"),
    Kind("kubeflow.org", "v1beta1", "experiments", "Experiment"),
    Kind("kubeflow.org", "v1beta1", "trials", "Trial"),
    Kind("kubeflow.org", "v1beta1", "suggestions", "Suggestion"),
    Kind("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"),
    Kind("kubeflow.org", "v1", "tfjobs", "TFJob"),
    Kind("kubeflow.org", "v1", "xgboostjobs", "XGBoostJob"),
    Kind("kubeflow.org", "v1", "mpijobs", "MPIJob"),
    Kind("kubeflow.org", "v2beta1", "mpijobs", "MPIJob"),
    Kind("argoproj.io", "v1alpha1", "workflows", "Workflow"),
    Kind("tekton.dev", "v1beta1", "pipelineruns", "PipelineRun"),
    Kind("tekton.dev", "v1", "pipelineruns", "PipelineRun"),
    Kind("tekton.dev", "v1beta1", "taskruns", "TaskRun"),
    Kind("tekton.dev", "v1", "taskruns", "TaskRun"),
]

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>status|log))?$"
)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


@dataclass
class _Log:
    # Its followers wait on it alone: a line wakes the streams of its own container only,
    # not every watch and every other log (it shares the fake's lock).
    changed: threading.Condition
    lines: list[tuple[str, str]] = field(default_factory=list)  # (timestamp, line)
    previous: list[tuple[str, str]] = field(default_factory=list)
    done: bool = False


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int


def select(labels: dict[str, str], selector: str) -> bool:
    """Whether labels match a label selector's text."""
    return all(test(labels) for test in _requirements(selector))


@functools.lru_cache(maxsize=4096)
def _requirements(selector: str) -> tuple[Callable[[dict[str, str]], bool], ...]:
    """A selector's terms, parsed once: a test of the labels each."""
    tests: list[Callable[[dict[str, str]], bool]] = []
    for term in _terms(selector):
        term = term.strip()
        if not term:
            continue
        found = re.match(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$", term)
        if found:
            key, op, values = found.groups()
            wanted = frozenset(v.strip() for v in values.split(","))
            inside = op == "in"
            tests.append(lambda ls, k=key, w=wanted, i=inside: (k in ls and ls[k] in w) == i)
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            tests.append(lambda ls, k=key, v=value: ls.get(k) != v)
        elif "=" in term:
            key, value = (part.strip() for part in re.split("==?", term, maxsplit=1))
            tests.append(lambda ls, k=key, v=value: ls.get(k) == v)
        elif term.startswith("!"):
            tests.append(lambda ls, k=term[1:]: k not in ls)
        else:
            tests.append(lambda ls, k=term: k in ls)
    return tuple(tests)


def _terms(selector: str) -> list[str]:
    """A selector split at the commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return terms


def copied(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists and scalars): what copy.deepcopy gives,
    several times faster."""
    if isinstance(value, dict):
        return {key: copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copied(item) for item in value]
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copied(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902: add, remove, replace, test."""
    document = copied(document)
    for operation in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        op = operation["op"]
        if op == "test":
            here = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if here != operation["value"]:
                raise ApiError(422, "Invalid", f"test failed at {operation['path']}")
        elif op == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        elif isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, operation["value"])
            else:
                parent[index] = operation["value"]
        else:
            parent[last] = operation["value"]
    return document


class FakeKubernetes:
    """The store, the watchers and the HTTP server around them. A stored object is never
    changed in place: each change stores a new one. So the event log, lists and answers
    share stored objects without copying them, and answers are written outside the lock;
    what leaves through the Python API (get, items, create, update, listeners) is a copy."""

    def __init__(self, history: int = 100_000, bookmark_every: float = 0.5):
        self.mutex = threading.RLock()
        self.lock = threading.Condition(self.mutex)  # watches wait on it: objects changed
        self.version = 1000
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        # Indexes over `objects`, so that a list or a delete costs what it touches, not
        # the whole store: the objects of each kind, and each owner's dependents.
        self._of_kind: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self._dependents: dict[str, set[tuple[str, str, str, str]]] = {}
        self.events: list[tuple[int, str, str, str, dict[str, Any]]] = []  # rv, type, key..
        self.oldest = self.version  # the oldest resourceVersion a watch may start from
        self.history = history
        self.bookmark_every = bookmark_every
        self.logs: dict[tuple[str, str, str], _Log] = {}
        self._pod_logs: dict[tuple[str, str], list[_Log]] = {}  # each pod's containers' logs
        self.faults: list[_Fault] = []
        self.requests: Counter[str] = Counter()
        self.watch_generation = 0
        # Called with (type, kind, object) for every change, under the lock: keep it short.
        self.listeners: list[Any] = []
        # Called with (method, path, parsed body, when it was read: time.time()) for each
        # request the server handles, before it handles it (outside the lock).
        self.arrivals: list[Any] = []
        # Called the same way once a request's answer has been written (not for streams).
        self.departures: list[Any] = []
        self.kinds = {(k.group, k.version, k.plural): k for k in KINDS}
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- the server -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeKubernetes:
        self.thread.start()
        return self

    def close(self) -> None:
        self.drop_watches()
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, pattern: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` requests of `method` whose path matches with `status`."""
        with self.lock:
            self.faults.append(_Fault(method.upper(), re.compile(pattern), status, times))

    def drop_watches(self) -> None:
        with self.lock:
            self.watch_generation += 1
            self.lock.notify_all()
            self._wake_logs()

    def compact(self) -> None:
        """Forget the history: a watch from an older resourceVersion gets a 410."""
        with self.lock:
            self.events.clear()
            self.oldest = self.version
            self.watch_generation += 1
            self.lock.notify_all()
            self._wake_logs()

    # -- the store, for the simulated kubelet and controllers ----------------------------

    def kind_of(self, api_version: str, kind: str) -> Kind:
        group, _, version = api_version.rpartition("/")
        for k in KINDS:
            if k.group == group and k.version == version and k.kind == kind:
                return k
        raise ApiError(404, "NotFound", f"no kind {kind} in {api_version}")

    def create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return copied(self._create(kind, namespace, copied(body)))

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.objects.get(self._key(kind, namespace, name))
            return copied(found) if found is not None else None

    def items(self, kind: Kind, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copied(o)
                for (g, p, ns, _), o in sorted(self.objects.items())
                if (g, p) == (kind.group, kind.plural) and namespace in (None, ns)
            ]

    def update(
        self, kind: Kind, namespace: str, name: str, change: Any, status: bool = False
    ) -> dict[str, Any] | None:
        """Apply `change(object)` (it edits the copy in place) and store it; None where the
        object is gone."""
        with self.lock:
            current = self.objects.get(self._key(kind, namespace, name))
            if current is None:
                return None
            edited = copied(current)
            change(edited)
            return copied(self._store(kind, namespace, edited, "MODIFIED"))

    def delete(self, kind: Kind, namespace: str, name: str) -> None:
        with self.lock:
            self._delete(kind, namespace, name)

    def _log(self, namespace: str, pod: str, container: str) -> _Log:
        """The container's log (made on first use); the lock is held."""
        key = (namespace, pod, container)
        entry = self.logs.get(key)
        if entry is None:
            entry = self.logs[key] = _Log(threading.Condition(self.mutex))
            self._pod_logs.setdefault((namespace, pod), []).append(entry)
        return entry

    def log(self, namespace: str, pod: str, container: str, line: str) -> None:
        with self.lock:
            entry = self._log(namespace, pod, container)
            entry.lines.append((stamp(), line))
            entry.changed.notify_all()

    def end_log(self, namespace: str, pod: str, container: str) -> None:
        with self.lock:
            entry = self._log(namespace, pod, container)
            entry.done = True
            entry.changed.notify_all()

    def restart_log(self, namespace: str, pod: str, container: str) -> None:
        """The container restarted: its log so far becomes `previous`."""
        with self.lock:
            entry = self._log(namespace, pod, container)
            entry.previous, entry.lines, entry.done = entry.lines, [], False
            entry.changed.notify_all()

    def forget_log(self, namespace: str, pod: str, container: str) -> None:
        """The log is gone (rotated away, or the node lost it)."""
        with self.lock:
            entry = self._log(namespace, pod, container)
            entry.lines, entry.previous = [], []
            entry.changed.notify_all()

    def _wake_logs(self, namespace: str | None = None, pod: str | None = None) -> None:
        """Wake the log streams (of one pod): it went, or every stream is cut."""
        if namespace is None or pod is None:
            entries = list(self.logs.values())
        else:
            entries = self._pod_logs.get((namespace, pod), [])
        for entry in entries:
            entry.changed.notify_all()

    # -- what the handlers do ------------------------------------------------------------

    def _key(self, kind: Kind, namespace: str, name: str) -> tuple[str, str, str, str]:
        return (kind.group, kind.plural, namespace if kind.namespaced else "", name)

    def _bump(self) -> str:
        self.version += 1
        return str(self.version)

    def _create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        metadata = body.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        name = metadata.get("name")
        if not name or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
            raise ApiError(422, "Invalid", f"metadata.name: Invalid value: {name!r}")
        if len(name) > 253 or (kind.plural == "pods" and len(name) > 253):
            raise ApiError(422, "Invalid", f"metadata.name {name!r} is too long")
        for key, value in (metadata.get("labels") or {}).items():
            if len(str(value)) > 63:
                raise ApiError(422, "Invalid", f"metadata.labels: {key}: must be <= 63 chars")
        key = self._key(kind, namespace, name)
        if key in self.objects:
            raise ApiError(
                409, "AlreadyExists", f'{kind.plural}.{kind.group} "{name}" already exists'
            )
        metadata["namespace"] = namespace if kind.namespaced else None
        if metadata["namespace"] is None:
            del metadata["namespace"]
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now()
        metadata["generation"] = 1
        body["apiVersion"] = f"{kind.group}/{kind.version}" if kind.group else kind.version
        body["kind"] = kind.kind
        return self._store(kind, namespace, body, "ADDED")

    def _store(
        self, kind: Kind, namespace: str, body: dict[str, Any], event: str
    ) -> dict[str, Any]:
        metadata = body["metadata"]
        if (
            event == "MODIFIED"
            and metadata.get("deletionTimestamp")
            and not metadata.get("finalizers")
        ):
            self._remove(kind, namespace, metadata["name"])
            return body
        metadata["resourceVersion"] = self._bump()
        key = self._key(kind, namespace, metadata["name"])
        self.objects[key] = body
        self._of_kind.setdefault(key[:2], {})[key[2:]] = body
        for owner in metadata.get("ownerReferences") or []:
            if owner.get("uid"):
                self._dependents.setdefault(owner["uid"], set()).add(key)
        self._event(event, kind, body)
        return body

    def _event(self, event: str, kind: Kind, body: dict[str, Any]) -> None:
        version = int(body["metadata"]["resourceVersion"])
        self.events.append((version, event, kind.group, kind.plural, body))
        for listener in self.listeners:
            listener(event, kind, copied(body))
        if len(self.events) > self.history:
            dropped = self.events[: len(self.events) - self.history]
            self.oldest = dropped[-1][0]
            del self.events[: len(dropped)]
        self.lock.notify_all()

    def _delete(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        key = self._key(kind, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{kind.plural}.{kind.group} "{name}" not found')
        if current["metadata"].get("finalizers"):
            if not current["metadata"].get("deletionTimestamp"):
                edited = copied(current)
                edited["metadata"]["deletionTimestamp"] = now()
                return self._store(kind, namespace, edited, "MODIFIED")
            return current
        return self._remove(kind, namespace, name)

    def _remove(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        key = self._key(kind, namespace, name)
        stored = self.objects.pop(key)
        self._of_kind.get(key[:2], {}).pop(key[2:], None)
        gone = {**stored, "metadata": {**stored["metadata"], "resourceVersion": self._bump()}}
        self._event("DELETED", kind, gone)
        if kind.plural == "pods" and not kind.group:
            self._wake_logs(namespace, name)  # its followed logs end
        uid = gone["metadata"]["uid"]
        for group, plural, ns, other in sorted(self._dependents.pop(uid, set())):
            body = self.objects.get((group, plural, ns, other))
            owners = (body or {}).get("metadata", {}).get("ownerReferences") or []
            if body is not None and any(o.get("uid") == uid for o in owners):
                dependent = self.kinds.get((group, _version_of(body), plural))
                if dependent is not None and (group, plural, ns, other) in self.objects:
                    self._delete(dependent, ns, other)
        return gone

    def fault(self, method: str, path: str) -> int | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.pattern.search(path) and fault.times > 0:
                    fault.times -= 1
                    return fault.status
        return None

    def handle(
        self, method: str, path: str, query: dict[str, str], body: Any, content_type: str
    ) -> dict[str, Any]:
        found = _PATH.match(path)
        if found is None:
            raise ApiError(404, "NotFound", f"no route {path}")
        parts = found.groupdict()
        group = parts["group"] or ""
        version = parts["core"] or parts["version"]
        kind = self.kinds.get((group, version, parts["plural"]))
        if kind is None:
            raise ApiError(404, "NotFound", f"the server could not find {parts['plural']}")
        namespace, name, sub = parts["namespace"] or "", parts["name"], parts["sub"]
        with self.lock:
            if method == "GET" and name is None:
                return self._list(kind, parts["namespace"], query)
            if method == "POST" and name is None:
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "the body is not an object")
                if sub:
                    raise ApiError(405, "MethodNotAllowed", "create on a subresource")
                return self._create(kind, namespace, body)
            if name is None:
                raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
            current = self.objects.get(self._key(kind, namespace, name))
            if current is None:
                raise ApiError(404, "NotFound", f'{kind.plural}.{kind.group} "{name}" not found')
            if method == "GET":
                return current
            if method == "DELETE":
                return self._delete(kind, namespace, name)
            if method == "PUT":
                edited = body
            elif method == "PATCH":
                if "json-patch" in content_type:
                    edited = json_patch(current, body)
                else:
                    edited = merge_patch(current, body)
            else:
                raise ApiError(405, "MethodNotAllowed", method)
            if not isinstance(edited, dict):
                raise ApiError(400, "BadRequest", "the body is not an object")
            given = (edited.get("metadata") or {}).get("resourceVersion")
            if given is not None and given != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.plural}.{kind.group} "{name}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again",
                )
            result = copied(current)
            if sub == "status":
                if "status" in edited:
                    result["status"] = edited["status"]
                else:
                    result.pop("status", None)
            else:
                kept_status = current.get("status")
                result = copied(edited)
                protected = current["metadata"]
                result.setdefault("metadata", {})
                for key in ("uid", "creationTimestamp", "namespace", "name", "generation"):
                    if key in protected:
                        result["metadata"][key] = protected[key]
                if protected.get("deletionTimestamp"):
                    result["metadata"]["deletionTimestamp"] = protected["deletionTimestamp"]
                if kind.status:
                    if kept_status is None:
                        result.pop("status", None)
                    else:
                        result["status"] = kept_status
                if result.get("spec") != current.get("spec"):
                    result["metadata"]["generation"] = protected.get("generation", 1) + 1
                result["apiVersion"], result["kind"] = current["apiVersion"], current["kind"]
            if result == current:
                return current  # no change: no new resourceVersion, as real
            return self._store(kind, namespace, result, "MODIFIED")

    def _list(self, kind: Kind, namespace: str | None, query: dict[str, str]) -> dict[str, Any]:
        selector = query.get("labelSelector", "")
        fields = query.get("fieldSelector", "")
        wanted_name = None
        if fields:
            found = re.fullmatch(r"metadata\.name=(.+)", fields)
            if found is None:
                raise ApiError(400, "BadRequest", f"field selector {fields!r} not supported")
            wanted_name = found.group(1)
        items = [
            body
            for (ns, name), body in sorted(self._of_kind.get((kind.group, kind.plural), {}).items())
            if (namespace is None or ns == namespace)
            and select(body["metadata"].get("labels") or {}, selector)
            and (wanted_name is None or name == wanted_name)
        ]
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": f"{kind.group}/{kind.version}" if kind.group else kind.version,
            "metadata": {"resourceVersion": str(self.version)},
            "items": items,
        }

    def watch_events(
        self,
        kind: Kind,
        namespace: str | None,
        query: dict[str, str],
        write: Any,
    ) -> None:
        """Stream events after the query's resourceVersion until the timeout, a drop or a
        closed connection. Written outside the lock: a slow reader holds up no one."""
        selector = query.get("labelSelector", "")
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(query.get("timeoutSeconds") or 3600)
        ends = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        with self.lock:
            generation = self.watch_generation
            since = query.get("resourceVersion")
            position = int(since) if since not in (None, "", "0") else self.version
            expired = position < self.oldest
        if expired:
            gone = ApiError(410, "Expired", f"too old resource version: {position}")
            write({"type": "ERROR", "object": gone.body()})
            return
        while True:
            out: list[dict[str, Any]] = []
            with self.lock:
                if self.watch_generation != generation:
                    return
                first = bisect.bisect_right(self.events, position, key=lambda e: e[0])
                for rv, event, group, plural, body in self.events[first:]:
                    if (
                        rv > position
                        and (group, plural) == (kind.group, kind.plural)
                        and (namespace is None or body["metadata"].get("namespace") == namespace)
                        and select(body["metadata"].get("labels") or {}, selector)
                    ):
                        out.append({"type": event, "object": body})
                position = self.version
                if bookmarks and time.monotonic() - last_bookmark >= self.bookmark_every:
                    out.append(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": kind.kind,
                                "apiVersion": f"{kind.group}/{kind.version}".lstrip("/"),
                                "metadata": {"resourceVersion": str(position)},
                            },
                        }
                    )
                    last_bookmark = time.monotonic()
            for item in out:
                write(item)
            left = ends - time.monotonic()
            if left <= 0:
                return
            with self.lock:
                if self.version == position and self.watch_generation == generation:
                    self.lock.wait(timeout=min(left, self.bookmark_every))

    def stream_log(self, namespace: str, pod: str, query: dict[str, str], write: Any) -> None:
        """A container's log; with `follow`, until the container ends or restarts, or the
        pod goes. Written outside the lock."""
        container = query.get("container")
        with self.lock:
            body = self.objects.get(("", "pods", namespace, pod))
            if body is None:
                raise ApiError(404, "NotFound", f'pods "{pod}" not found')
            names = [c["name"] for c in body["spec"].get("containers", [])]
            if container is None:
                if len(names) != 1:
                    raise ApiError(
                        400, "BadRequest", f"a container name must be specified for pod {pod}"
                    )
                container = names[0]
            init = [c["name"] for c in body["spec"].get("initContainers", [])]
            if container not in (*names, *init):  # an init container's log is there too
                raise ApiError(400, "BadRequest", f"container {container} is not valid for {pod}")
            entry = self._log(namespace, pod, container)
        follow = query.get("follow") in ("true", "1")
        since = query.get("sinceTime")
        timestamps = query.get("timestamps") in ("true", "1")
        tail = query.get("tailLines")

        def shown(lines: list[tuple[str, str]]) -> None:
            for at, line in lines:
                write(f"{at} {line}\n" if timestamps else line + "\n")

        if query.get("previous") in ("true", "1"):
            with self.lock:
                previous = list(entry.previous)
            shown(previous)
            return
        generation = self.watch_generation
        with self.lock:
            lines = entry.lines
            chosen = list(lines)
            sent = len(lines)
        if since:
            chosen = [(at, line) for at, line in chosen if at >= since]
        if tail is not None:
            chosen = chosen[-int(tail) :] if int(tail) else []
        shown(chosen)
        while follow:
            with self.lock:
                if (
                    entry.lines is not lines  # restarted or forgotten: this container ended
                    or self.watch_generation != generation
                    or ("", "pods", namespace, pod) not in self.objects
                ):
                    return
                if len(lines) == sent and not entry.done:
                    entry.changed.wait(timeout=0.5)
                fresh = lines[sent:]
                sent = len(lines)
                done = entry.done and not fresh
            shown(fresh)
            if done:
                return


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many clients connect at once, as to a real API server
    daemon_threads = True
    connections = 0  # accepted so far (each is served by a thread of its own)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        super().process_request(request, client_address)


def _version_of(body: dict[str, Any]) -> str:
    return str(body.get("apiVersion", "")).rpartition("/")[2]


def _handler(fake: FakeKubernetes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _query(self) -> tuple[str, dict[str, str]]:
            parts = urlsplit(self.path)
            return parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, produce: Any, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def write(item: Any) -> None:
                text = item if isinstance(item, str) else json.dumps(item) + "\n"
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            try:
                produce(write)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            # A stream that ended whole leaves its connection open for the client's next
            # request, as a real API server does.

        def _any(self, method: str) -> None:
            path, query = self._query()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            read_at = time.time()
            watching = query.get("watch") in ("true", "1")
            verb = {
                "GET": "watch" if watching else "get",
                "POST": "create",
                "PUT": "update",
                "PATCH": "patch",
                "DELETE": "delete",
            }[method]
            if verb == "get" and path.endswith("/log"):
                verb = "log"
            with fake.lock:
                fake.requests[verb] += 1
            failing = fake.fault(method, path)
            if failing is not None:
                self._send(failing, ApiError(failing, "InternalError", "injected").body())
                return
            try:
                body = json.loads(raw) if raw else None
                for arrived in fake.arrivals:
                    arrived(method, path, body, read_at)
                if method == "GET" and path.endswith("/log"):
                    found = _PATH.match(path)
                    assert found is not None
                    namespace, pod = found["namespace"], found["name"]
                    with fake.lock:  # a 404 or 400 before the stream starts
                        if ("", "pods", namespace, pod) not in fake.objects:
                            raise ApiError(404, "NotFound", f'pods "{pod}" not found')
                    self._stream(
                        lambda write: fake.stream_log(namespace, pod, query, write),
                        "text/plain",
                    )
                    return
                if watching:
                    found = _PATH.match(path)
                    if found is None:
                        raise ApiError(404, "NotFound", path)
                    group = found["group"] or ""
                    version = found["core"] or found["version"]
                    kind = fake.kinds.get((group, version, found["plural"]))
                    if kind is None:
                        raise ApiError(404, "NotFound", path)
                    self._stream(
                        lambda write: fake.watch_events(kind, found["namespace"], query, write),
                        "application/json",
                    )
                    return
                content_type = self.headers.get("Content-Type", "")
                result = fake.handle(method, path, query, body, content_type)
                self._send(201 if method == "POST" else 200, result)
                for departed in fake.departures:
                    departed(method, path, body, time.time())
            except ApiError as err:
                self._send(err.code, err.body())
            except (KeyError, IndexError, ValueError, TypeError) as err:
                self._send(400, ApiError(400, "BadRequest", repr(err)).body())

        def do_GET(self) -> None:
            self._any("GET")

        def do_POST(self) -> None:
            self._any("POST")

        def do_PUT(self) -> None:
            self._any("PUT")

        def do_PATCH(self) -> None:
            self._any("PATCH")

        def do_DELETE(self) -> None:
            self._any("DELETE")

    return Handler
