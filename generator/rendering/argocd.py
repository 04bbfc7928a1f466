"""`overlays/argocd/`: one Argo CD Application per cluster environment (and one for the
CRD layer), and the `argocd-cm` entries Argo CD needs for Experiments: a health check
(there is none upstream) and annotation-based resource tracking.

Each Application is single-step (no waves, no hooks: a running Experiment is Progressing
for hours, and a multi-step sync would wait on it), syncs automatically with retries and
backoff, creates its namespace with Katib's label, and refreshes only for commits that
touch the overlays it builds from, so the controller's status commits do not refresh it."""

from __future__ import annotations

import posixpath
from importlib import resources

from generator.katib.base import Manifest
from generator.katib.repository import (
    ARGOCD_FOLDER,
    BASE_FOLDER,
    CONTROLLER_FOLDER,
    CRDS_FOLDER,
    OVERLAYS_FOLDER,
    TEMPLATES_FOLDER,
)
from generator.language.environments import Environment, GitOps
from generator.rendering.common import KUSTOMIZATION, RenderedTree, dump, header
from generator.rendering.overlays import METRICS_COLLECTOR_LABEL
from generator.specset import SpecSet

HEALTH_KEY = "resource.customizations.health.kubeflow.org_Experiment"
TRACKING_KEY = "application.resourceTrackingMethod"
IN_CLUSTER = "https://kubernetes.default.svc"
ARGOCD_CM = "argocd-cm.yaml"
_RETRY = {"limit": 10, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "10m"}}


def health_check() -> str:
    """The Lua of the kubeflow.org/Experiment health check."""
    return resources.files("generator").joinpath("rendering/experiment-health.lua").read_text()


def argocd_layer(specs: SpecSet) -> RenderedTree:
    clustered = [env for env in specs.environments if env.in_cluster]
    if specs.gitops is None or not clustered:
        return {}
    gitops = specs.gitops
    text = header("spec/ (gitops and the cluster environments)")
    applications = {f"application-{env.name}.yaml": _application(env, gitops) for env in clustered}
    if any(env.executor == "cluster" for env in clustered):
        applications["application-crds.yaml"] = _crd_application(gitops)
    files = {name: dump(doc, text) for name, doc in applications.items()}
    files["kustomization.yaml"] = dump(
        {**KUSTOMIZATION, "namespace": gitops.argocd_namespace, "resources": sorted(applications)},
        text,
    )
    files[ARGOCD_CM] = dump(_argocd_cm(gitops), text + _CM_NOTE)
    return {f"{ARGOCD_FOLDER}/{name}": value for name, value in files.items()}


_CM_NOTE = (
    "\nMerge into Argo CD's own argocd-cm (a patch in the kustomization that installs Argo"
    "\nCD): it is not among this folder's resources, as applying it whole would drop the"
    "\nrest of Argo CD's settings."
)


def _in_repo(gitops: GitOps, *parts: str) -> str:
    return posixpath.join(gitops.path, OVERLAYS_FOLDER, *parts)


def _application(env: Environment, gitops: GitOps) -> Manifest:
    watched = [env.name, BASE_FOLDER, TEMPLATES_FOLDER]
    if env.executor in ("cluster", "katib"):  # katib: the controller mirrors its status
        watched.append(CONTROLLER_FOLDER)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": f"hpo-{env.name}",
            "annotations": {
                # Paths from the repository's root: a status commit touches none of them.
                "argocd.argoproj.io/manifest-generate-paths": ";".join(
                    "/" + _in_repo(gitops, folder) for folder in watched
                ),
            },
        },
        "spec": {
            "project": gitops.project,
            "source": {
                "repoURL": gitops.repository,
                "targetRevision": gitops.branch,
                "path": _in_repo(gitops, env.name),
            },
            "destination": {"server": IN_CLUSTER, "namespace": env.namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": [
                    "CreateNamespace=true",
                    # The CRDs may come from another Application (or from Katib).
                    "SkipDryRunOnMissingResource=true",
                    # Large trialSpecs outgrow the last-applied annotation.
                    "ServerSideApply=true",
                ],
                "managedNamespaceMetadata": {
                    "labels": {
                        METRICS_COLLECTOR_LABEL: "enabled",
                        **dict(sorted(env.labels.items())),
                    }
                },
                "retry": _RETRY,
            },
        },
    }


def _crd_application(gitops: GitOps) -> Manifest:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "hpo-crds",
            "annotations": {
                "argocd.argoproj.io/manifest-generate-paths": "/" + _in_repo(gitops, CRDS_FOLDER)
            },
        },
        "spec": {
            "project": gitops.project,
            "source": {
                "repoURL": gitops.repository,
                "targetRevision": gitops.branch,
                "path": _in_repo(gitops, CRDS_FOLDER),
            },
            "destination": {"server": IN_CLUSTER},
            "syncPolicy": {
                # A CRD is never pruned: deleting it deletes every Experiment.
                "automated": {"prune": False, "selfHeal": True},
                "syncOptions": ["ServerSideApply=true"],
                "retry": _RETRY,
            },
        },
    }


def _argocd_cm(gitops: GitOps) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": gitops.argocd_namespace,
            "labels": {
                "app.kubernetes.io/name": "argocd-cm",
                "app.kubernetes.io/part-of": "argocd",
            },
        },
        "data": {TRACKING_KEY: "annotation", HEALTH_KEY: health_check()},
    }
