"""The Kubernetes API as the controller uses it: objects as plain dicts of any kind (a Job,
a PyTorchJob, an Argo Workflow, an Experiment), by apiVersion and kind, through the
`kubernetes` client's connection (its configuration, TLS and bearer token; in-cluster or
from a kubeconfig).

A kind's path uses its lower-case name plus "s" (jobs, pytorchjobs, workflows,
pipelineruns, experiments, leases, pods: every kind trials and the controller use); a kind
the server does not serve is a KubeError 404 that names it."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from controller.errors import ControllerError

Object = dict[str, Any]
RETRIES = 4  # tries again of a request the server or the connection failed
BACKOFF = 0.1  # seconds before the first, doubled for each next (jittered)


@dataclass(frozen=True)
class Resource:
    """Where objects of one kind live: `/api/v1` for the core group, `/apis/<group>/<v>`."""

    api_version: str
    kind: str
    plural: str

    @classmethod
    def of(cls, api_version: str, kind: str) -> Resource:
        return cls(api_version, kind, kind.lower() + "s")

    def path(self, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        root = (
            f"/api/{self.api_version}"
            if "/" not in self.api_version
            else (f"/apis/{self.api_version}")
        )
        parts = [root]
        if namespace is not None:
            parts.append(f"/namespaces/{quote(namespace, safe='')}")
        parts.append(f"/{self.plural}")
        if name is not None:
            parts.append(f"/{quote(name, safe='')}")
        if sub is not None:
            parts.append(f"/{sub}")
        return "".join(parts)


PODS = Resource.of("v1", "Pod")
EXPERIMENTS = Resource.of("kubeflow.org/v1beta1", "Experiment")
TRIALS = Resource.of("kubeflow.org/v1beta1", "Trial")
LEASES = Resource.of("coordination.k8s.io/v1", "Lease")


class KubeError(ControllerError):
    """An answer of the API server other than success: its HTTP status and reason."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"the Kubernetes API answered {status} {reason}: {message}")
        self.status, self.reason, self.detail = status, reason, message

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_conflict(self) -> bool:
        return self.status == 409

    @property
    def is_gone(self) -> bool:
        return self.status == 410

    @property
    def is_temporary(self) -> bool:
        """Worth trying again later: the server or the connection, not the request."""
        return self.status in (0, 429) or self.status >= 500


# Connections kept open to the API server. Every experiment's run, every followed log
# and every watch holds one while its request lasts; beyond the pool, each request opens
# a connection of its own and drops it after (the client's default keeps 5 per core).
POOL = 256


class Kube:
    """Calls on one API server; safe from several threads."""

    def __init__(self, client: Any):
        self.client = client

    @classmethod
    def connect(cls, host: str | None = None) -> Kube:
        """In a pod: its service account; elsewhere: the kubeconfig; `host` overrides."""
        from kubernetes import client, config

        if host is not None:
            configuration = client.Configuration()
            configuration.host = host
            configuration.connection_pool_maxsize = POOL
            return cls(client.ApiClient(configuration))
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            try:
                config.load_kube_config()  # type: ignore[no-untyped-call]
            except (config.ConfigException, OSError) as err:
                raise ControllerError(
                    "no Kubernetes API to talk to: not in a pod, and no kubeconfig "
                    f"({err}); set KUBECONFIG or run in the cluster"
                ) from err
        configuration = client.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = POOL
        return cls(client.ApiClient(configuration))

    # -- one request -----------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        stream: bool = False,
        timeout: float | tuple[float, float | None] | None = None,
        answer: bool = True,
    ) -> Any:
        """One request; a dropped connection, a 429 or a 5xx is tried again (RETRIES times,
        backed off). A create whose answer was lost may have been made: the caller's 409
        says so. Streams are not retried here: their readers resume on their own.
        `answer=False`: the answer's body is read and not decoded (None), for a caller
        that does not look at it."""
        attempts = 1 if stream else RETRIES + 1
        for attempt in range(attempts):
            try:
                return self._once(method, path, query, body, content_type, stream, timeout, answer)
            except KubeError as err:
                if not err.is_temporary or attempt == attempts - 1:
                    raise
                time.sleep(BACKOFF * 2**attempt * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    def _once(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str,
        stream: bool,
        timeout: float | tuple[float, float | None] | None,
        answer: bool = True,
    ) -> Any:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json, */*"}
        if body is not None:
            headers["Content-Type"] = content_type  # the client writes the body as JSON
        params = [
            (k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (query or {}).items()
        ]
        try:
            serialized = self.client.param_serialize(
                method=method,
                resource_path=path,
                query_params=params,
                header_params=headers,
                body=None,
                auth_settings=["BearerToken"],
            )
            call_method, url, call_headers, _, _ = serialized
            response = self.client.call_api(
                call_method,
                url,
                header_params=call_headers,
                body=body,
                _request_timeout=timeout,
            )
        except ApiException as err:
            raise KubeError(err.status or 0, str(err.reason), str(err.body or "")) from err
        except OSError as err:
            raise KubeError(0, "Unreachable", str(err)) from err
        except Exception as err:  # urllib3's own errors: the connection, not the request
            if type(err).__module__.startswith("urllib3"):
                raise KubeError(0, "Unreachable", str(err)) from err
            raise
        if not 200 <= response.status <= 299:
            raw = response.read()
            raise _error(response.status, raw)
        if stream:
            return response.response
        raw = response.read()
        return json.loads(raw) if raw and answer else None

    # -- verbs -----------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str | None, name: str) -> Object | None:
        try:
            found: Object = self._call("GET", resource.path(namespace, name))
        except KubeError as err:
            if err.is_not_found:
                return None
            raise
        return found

    def list(
        self, resource: Resource, namespace: str | None, selector: str = ""
    ) -> tuple[list[Object], str]:
        """The objects and the list's resourceVersion (where a watch starts)."""
        query = {"labelSelector": selector} if selector else {}
        found = self._call("GET", resource.path(namespace), query)
        return list(found.get("items") or []), str(found["metadata"].get("resourceVersion", ""))

    def create(self, resource: Resource, namespace: str | None, body: Object) -> None:
        """Create the object (the server's answer, the object as stored, is not decoded:
        nothing here looks at it)."""
        self._call("POST", resource.path(namespace), body=body, answer=False)

    def replace(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: Object,
        sub: str | None = None,
    ) -> Object:
        """PUT: a 409 where body's resourceVersion is not the stored one."""
        replaced: Object = self._call("PUT", resource.path(namespace, name, sub), body=body)
        return replaced

    def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: Any,
        sub: str | None = None,
    ) -> None:
        """A JSON merge patch (RFC 7386); the patched object the server answers with is
        not decoded (a status patch's answer holds every trial's record)."""
        self._call(
            "PATCH",
            resource.path(namespace, name, sub),
            body=patch,
            content_type="application/merge-patch+json",
            answer=False,
        )

    def delete(
        self, resource: Resource, namespace: str | None, name: str, propagation: str = "Background"
    ) -> bool:
        """Whether there was something to delete."""
        try:
            self._call(
                "DELETE",
                resource.path(namespace, name),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": propagation,
                },
                answer=False,
            )
        except KubeError as err:
            if err.is_not_found:
                return False
            raise
        return True

    def watch(
        self,
        resource: Resource,
        namespace: str | None,
        resource_version: str,
        selector: str = "",
        timeout: float = 300.0,
    ) -> Iterator[tuple[str, Object]]:
        """(type, object) events after `resource_version`, BOOKMARKs included, until the
        server ends the stream; a KubeError 410 where the version is too old."""
        query: dict[str, Any] = {
            "watch": True,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": True,
            "timeoutSeconds": int(timeout),
        }
        if selector:
            query["labelSelector"] = selector
        response = self._call(
            "GET", resource.path(namespace), query, stream=True, timeout=(10, timeout + 30)
        )
        with _streamed(response) as lines:
            for line in lines:
                event = json.loads(line)
                kind, body = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise KubeError(
                        int(body.get("code") or 500),
                        str(body.get("reason") or "Error"),
                        str(body.get("message") or ""),
                    )
                yield str(kind), body

    def log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        follow: bool = False,
        since_time: str | None = None,
        timestamps: bool = False,
        previous: bool = False,
    ) -> Iterator[str]:
        """A container's log lines, as they come when following."""
        query: dict[str, Any] = {"container": container}
        if follow:
            query["follow"] = True
        if since_time:
            query["sinceTime"] = since_time
        if timestamps:
            query["timestamps"] = True
        if previous:
            query["previous"] = True
        response = self._call(
            "GET", PODS.path(namespace, pod, "log"), query, stream=True, timeout=(10, None)
        )
        with _streamed(response) as lines:
            yield from lines


@contextmanager
def _streamed(response: Any) -> Iterator[Iterator[str]]:
    """A streamed answer's lines. Its connection goes back to the pool once the answer
    has been read to its end; one left part-read is closed (what is left of the answer
    would otherwise be read as the next request's)."""
    whole = False

    def lines() -> Iterator[str]:
        nonlocal whole
        yield from _lines(response)
        whole = True

    try:
        yield lines()
    finally:
        if not whole:
            response.close()
        response.release_conn()


def _lines(response: Any) -> Iterator[str]:
    """The response's lines as they arrive (the last one without its newline too)."""
    pending = b""
    for chunk in response.stream(4096, decode_content=False):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _error(status: int, raw: bytes) -> KubeError:
    try:
        body = json.loads(raw)
    except ValueError:
        return KubeError(status, "Error", raw.decode("utf-8", "replace")[:500])
    if not isinstance(body, dict):
        return KubeError(status, "Error", str(body)[:500])
    return KubeError(status, str(body.get("reason") or "Error"), str(body.get("message") or ""))
