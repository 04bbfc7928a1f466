"""The layers a cluster environment adds: `controller/` (hpo-controller's Deployment, its
ServiceAccount, a namespace-scoped Role with only the verbs it calls, the RoleBinding and a
metrics Service; no namespace, each environment's overlay places it) and `crds/` (the
Experiment CRD, cluster-scoped, for clusters without Katib: a structural schema derived
from hpo-gen's strict one, so the API server itself refuses a malformed Experiment)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from generator.katib.base import Manifest
from generator.katib.repository import CONTROLLER_FOLDER, CRDS_FOLDER
from generator.language.environments import GitOps
from generator.rendering.common import KUSTOMIZATION, RenderedTree, dump, header
from generator.rendering.overlays import CONTROLLER_CONFIG, runs_controller
from generator.specset import SpecSet

CONTROLLER = "hpo-controller"
_SELECTOR = {"app.kubernetes.io/name": CONTROLLER}
_LABELS = {**_SELECTOR, "app.kubernetes.io/part-of": "hpo-gen"}
PROBE_PORT = 8080  # /healthz (alive) and /readyz (watching), served by `hpo-controller serve`
METRICS_PORT = 9090  # /metrics, Prometheus text format
PUSH_PORT = 8070  # where trials with the Push metrics collector report
CREDENTIALS_MOUNT = "/etc/hpo-gen/git"
WORK_MOUNT = "/work"

# What hpo-controller calls in its namespace, and why: nothing cluster-wide.
ROLE_RULES: list[tuple[str, list[str], list[str], str]] = [
    ("kubeflow.org", ["experiments"], ["get", "list", "watch", "patch"],
     "reads the Experiments it runs; patch adds and removes its finalizer, which keeps an "
     "Experiment until its results are committed"),
    ("kubeflow.org", ["experiments/status"], ["patch"],
     "writes each Experiment's status: conditions, trial counts, the best trial"),
    ("kubeflow.org", ["trials"], ["get", "list", "watch"],
     "reads Katib's Trials, whose status it mirrors into git where Katib runs the "
     "experiments (executor=\"katib\")"),
    ("batch", ["jobs"], ["create", "get", "list", "watch", "delete"],
     "runs each trial as a Job, watches it finish, deletes it to stop or early-stop it"),
    ("kubeflow.org", ["pytorchjobs", "tfjobs", "xgboostjobs", "mpijobs"],
     ["create", "get", "list", "watch", "delete"],
     "the same for the Kubeflow training jobs' trials"),
    ("argoproj.io", ["workflows"], ["create", "get", "list", "watch", "delete"],
     "the same for Argo Workflow trials"),
    ("tekton.dev", ["pipelineruns"], ["create", "get", "list", "watch", "delete"],
     "the same for Tekton PipelineRun trials"),
    ("", ["pods"], ["get", "list", "watch"],
     "finds a trial's primary pod to follow its output"),
    ("", ["pods/log"], ["get"],
     "reads a trial's output, where the StdOut collector finds its metrics"),
    ("", ["configmaps"], ["get", "list", "watch"],
     "reads trial templates kept in ConfigMaps"),
    ("coordination.k8s.io", ["leases"], ["get", "create", "update"],
     "holds a Lease so that during a rollout only one controller runs the experiments"),
    ("", ["secrets"], ["create"],
     "makes the Secret hpo-controller-push, the key each Push trial's token is signed with"),
    ("", ["secrets"], ["get"],
     "reads that Secret back, and no other (resourceNames)"),
]  # fmt: skip
# Rules that name the one object they allow (a create cannot be limited so).
RESOURCE_NAMES = {("", "secrets", "get"): ["hpo-controller-push"]}


def cluster_layers(specs: SpecSet) -> RenderedTree:
    """Validation makes sure a spec set with a cluster environment declares its gitops.
    The controller runs where an environment's trials run in the cluster, and where Katib
    runs them and gitops says where their results go (it mirrors them into git); the CRD
    layer only where Katib is not there to bring its own."""
    gitops = specs.gitops
    if gitops is None or not any(runs_controller(e, gitops) for e in specs.environments):
        return {}
    tree = controller_layer(gitops)
    if any(e.executor == "cluster" for e in specs.environments):
        tree |= crd_layer()
    return tree


def controller_layer(gitops: GitOps) -> RenderedTree:
    text = header("spec/ (the in-cluster hpo-controller)")
    documents = {
        "serviceaccount.yaml": _service_account(),
        "role.yaml": _role(),
        "rolebinding.yaml": _role_binding(),
        "deployment.yaml": _deployment(gitops),
        "service.yaml": _service(),
    }
    alerts = {"prometheusrule.yaml": _alerts()}
    files = {f"{CONTROLLER_FOLDER}/{name}": dump(doc, text) for name, doc in documents.items()}
    files[f"{CONTROLLER_FOLDER}/kustomization.yaml"] = dump(
        {**KUSTOMIZATION, "resources": sorted(documents)}, text
    )
    # An example for clusters with the Prometheus Operator: not in the kustomization (its
    # CRD may not be installed); add it to your own overlay's resources to use it.
    files[f"{CONTROLLER_FOLDER}/prometheusrule.yaml"] = dump(alerts["prometheusrule.yaml"], text)
    return files


def _metadata(name: str = CONTROLLER) -> Manifest:
    return {"name": name, "labels": dict(_LABELS)}


def _service_account() -> Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata()}


def _role() -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(),
        "rules": [_rule(group, kinds, verbs) for group, kinds, verbs, _ in ROLE_RULES],
    }


def _rule(group: str, kinds: list[str], verbs: list[str]) -> Manifest:
    rule: Manifest = {"apiGroups": [group], "resources": kinds, "verbs": verbs}
    names = RESOURCE_NAMES.get((group, kinds[0], verbs[0])) if len(verbs) == 1 else None
    if names:
        rule["resourceNames"] = names
    return rule


def _role_binding() -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": CONTROLLER},
        "subjects": [{"kind": "ServiceAccount", "name": CONTROLLER}],
    }


def _setting(name: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": CONTROLLER_CONFIG, "key": key}}}


def _field(name: str, path: str) -> Manifest:
    """An environment variable from the pod's own metadata (the downward API): the
    namespace the controller watches, the name it holds its Lease as."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _deployment(gitops: GitOps) -> Manifest:
    probe = {"port": "probes"}
    container = {
        "name": CONTROLLER,
        "image": gitops.controller_image,
        "args": ["serve"],
        "env": [
            _setting("HPO_ENVIRONMENT", "environment"),
            _setting("HPO_EXECUTOR", "executor"),
            _setting("HPO_REPOSITORY", "repository"),
            _setting("HPO_BRANCH", "branch"),
            _setting("HPO_PATH", "path"),
            _setting("HPO_RESULTS", "results"),
            _setting("HPO_STATUS_BRANCH", "statusBranch"),
            _setting("HPO_COMMIT_INTERVAL", "commitInterval"),
            _field("POD_NAMESPACE", "metadata.namespace"),
            _field("POD_NAME", "metadata.name"),
            {"name": "HPO_CONTROLLER_GIT_CREDENTIALS", "value": CREDENTIALS_MOUNT},
            {"name": "HPO_WORK", "value": WORK_MOUNT},
            # The sidecar that relays File and TensorFlowEvent metrics out of trial pods.
            {"name": "HPO_RELAY_IMAGE", "value": gitops.controller_image},
        ],
        "ports": [
            {"name": "probes", "containerPort": PROBE_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
            {"name": "push", "containerPort": PUSH_PORT, "protocol": "TCP"},
        ],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", **probe},
            "periodSeconds": 20,
            "failureThreshold": 3,
        },
        "readinessProbe": {"httpGet": {"path": "/readyz", **probe}, "periodSeconds": 10},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "1Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "git-credentials", "mountPath": CREDENTIALS_MOUNT, "readOnly": True},
            {"name": "work", "mountPath": WORK_MOUNT},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(),
        "spec": {
            "replicas": 1,
            # One controller at a time: a rolling update would run two for a moment.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": dict(_SELECTOR)},
            "template": {
                "metadata": {"labels": dict(_LABELS)},
                "spec": {
                    "serviceAccountName": CONTROLLER,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "git-credentials",
                            "secret": {"secretName": gitops.credentials_secret},
                        },
                        {"name": "work", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def _alerts() -> Manifest:
    """Alerts on the controller's metrics (Katib's names)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(),
        "spec": {
            "groups": [
                {
                    "name": "hpo-controller",
                    "rules": [
                        {
                            "alert": "HpoExperimentFailed",
                            "expr": "increase(katib_experiment_failed_total[15m]) > 0",
                            "labels": {"severity": "warning"},
                            "annotations": {
                                "summary": "An experiment failed in {{ $labels.namespace }}",
                            },
                        },
                        {
                            "alert": "HpoTrialsFailing",
                            "expr": (
                                "sum by (namespace) (rate(katib_trial_failed_total[30m])) > "
                                "0.5 * sum by (namespace) (rate(katib_trial_created_total[30m]))"
                            ),
                            "for": "15m",
                            "labels": {"severity": "warning"},
                            "annotations": {
                                "summary": "More than half the trials fail in "
                                "{{ $labels.namespace }}",
                            },
                        },
                        {
                            "alert": "HpoControllerDown",
                            "expr": 'absent(up{job="hpo-controller"} == 1)',
                            "for": "10m",
                            "labels": {"severity": "critical"},
                            "annotations": {"summary": "hpo-controller is not scraped"},
                        },
                    ],
                }
            ]
        },
    }


def _service() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(),
        "spec": {
            "selector": dict(_SELECTOR),
            "ports": [
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                },
                {"name": "push", "port": PUSH_PORT, "targetPort": "push", "protocol": "TCP"},
            ],
        },
    }


def crd_layer() -> RenderedTree:
    text = header("hpo-gen's strict Experiment schema (the cluster-scoped CRD layer)")
    return {
        f"{CRDS_FOLDER}/experiments.yaml": dump(experiment_crd(), text),
        f"{CRDS_FOLDER}/kustomization.yaml": dump(
            {**KUSTOMIZATION, "resources": ["experiments.yaml"]}, text
        ),
    }


def experiment_crd() -> Manifest:
    schema = json.loads(
        resources.files("generator")
        .joinpath("schemas/experiment-v1beta1.json")
        .read_text(encoding="utf-8")
    )
    spec = structural(schema["properties"]["spec"], schema["$defs"])
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "experiments.kubeflow.org", "labels": dict(_LABELS)},
        "spec": {
            "group": "kubeflow.org",
            "names": {
                "kind": "Experiment",
                "listKind": "ExperimentList",
                "plural": "experiments",
                "singular": "experiment",
                "categories": ["all", "kubeflow", "katib"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1beta1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "Type",
                            "type": "string",
                            "jsonPath": ".status.conditions[-1:].type",
                        },
                        {
                            "name": "Status",
                            "type": "string",
                            "jsonPath": ".status.conditions[-1:].status",
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                            "required": ["spec"],
                        }
                    },
                }
            ],
        },
    }


# Keywords of the strict schema a structural CRD schema keeps as they are.
_KEPT = ("type", "format", "enum", "required")
_INT_OR_STRING = (
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
)


def structural(node: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema of hpo-gen's strict set turned structural, as the API server requires
    of a CRD: references inlined, every node typed, a free-form object kept whole
    (x-kubernetes-preserve-unknown-fields), quantities int-or-string."""
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        if name in _INT_OR_STRING:
            return {"x-kubernetes-int-or-string": True}
        return structural(defs[name], defs)
    out: dict[str, Any] = {key: node[key] for key in _KEPT if key in node}
    if out.get("format") not in ("int32", "int64", "double", "float", "date-time", "byte"):
        out.pop("format", None)
    if "properties" in node:
        out["properties"] = {
            key: structural(value, defs) for key, value in sorted(node["properties"].items())
        }
    extra = node.get("additionalProperties")
    if extra is True and "properties" not in node:
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif isinstance(extra, dict):
        out["additionalProperties"] = structural(extra, defs)
    if "items" in node:
        out["items"] = structural(node["items"], defs)
    return out
