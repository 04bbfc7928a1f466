"""What Argo CD syncs: the health check run in a real Lua against every status Katib and
hpo-controller write, the rendered Applications against Argo CD's CRD, every core object
against Kubernetes' schemas, the Experiment CRD structural and strict, the controller's
Role minimal, and no credential anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import lupa
import pytest

from controller.core.records import Completion, ExperimentRecord
from controller.core.status import status_head
from generator.files import yamlio
from generator.files.kustomize import build
from generator.katib.repository import ARGOCD_FOLDER
from generator.project.pipeline import Project
from generator.rendering.argocd import HEALTH_KEY, health_check
from generator.rendering.cluster import ROLE_RULES, experiment_crd
from tests.conftest import REPO_ROOT

ARGOCD_CRDS = REPO_ROOT / "tests" / "argocd"
KUBERNETES = "1.30.0"  # the oldest Kubernetes hpo-gen's manifests are checked against
STARTED = "2026-01-01T00:00:00Z"


def health(obj: dict[str, Any]) -> dict[str, str]:
    """The check as Argo CD runs one from argocd-cm: base, table and package libraries and
    a safe os, no string, math or io library."""
    lua = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    lua.execute(
        "string, math, io, debug, coroutine, utf8 = nil, nil, nil, nil, nil, nil\n"
        "os = {time = os.time, clock = os.clock, date = os.date, difftime = os.difftime}"
    )
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(health_check())
    return {key: result[key] for key in ("status", "message")}


def hpo_status(completion: Completion | None) -> dict[str, Any]:
    """An Experiment with the status hpo-controller writes for a run in that state."""
    experiment = Project(REPO_ROOT).validated_specs().experiments[0]
    record = ExperimentRecord(experiment.name, "hpo", start_time=STARTED)
    if completion is not None:
        record.completion, record.completion_time = completion, STARTED
    head = status_head(experiment, record, "prod")
    return {"spec": experiment.spec.to_wire(), "status": head["status"]}


def katib(*conditions: tuple[str, str, str, str]) -> dict[str, Any]:
    """An Experiment with the conditions Katib writes (type, status, reason, message)."""
    return {
        "spec": {"maxTrialCount": 12},
        "status": {
            "conditions": [
                {"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in conditions
            ],
            "trialsSucceeded": 5,
        },
    }


CREATED = ("Created", "True", "ExperimentCreated", "Experiment is created")
RUNNING = ("Running", "True", "ExperimentRunning", "Experiment is running")
RAN = ("Running", "False", "ExperimentRunning", "Experiment is running")


@pytest.mark.parametrize(
    "obj,status,message",
    [
        ({"spec": {}}, "Progressing", "Waiting for the experiment to start"),
        ({"spec": {}, "status": {}}, "Progressing", "Waiting for the experiment to start"),
        (katib(), "Progressing", "Waiting for the experiment to start"),
        (katib(CREATED), "Progressing", "Experiment is created"),
        (katib(CREATED, RUNNING), "Progressing", "Running: 5 of 12 trials succeeded"),
        (
            katib(CREATED, RAN, ("Restarting", "True", "ExperimentRestarting", "restarting")),
            "Progressing",
            "restarting",
        ),
        (
            katib(CREATED, RAN, ("Succeeded", "True", "ExperimentGoalReached", "goal reached")),
            "Healthy",
            "ExperimentGoalReached: goal reached",
        ),
        (
            katib(CREATED, RAN, ("Failed", "True", "ExperimentFailed", "3 trials failed")),
            "Degraded",
            "3 trials failed",
        ),
        (
            katib(CREATED, RAN, ("Failed", "True", "ExperimentFailed", "")),
            "Degraded",
            "The experiment failed",
        ),
        (
            katib(CREATED, ("Succeeded", "False", "", ""), RUNNING),
            "Progressing",
            "Running: 5 of 12 trials succeeded",
        ),
        (hpo_status(None), "Progressing", "Running: 0 of 20 trials succeeded"),
        (
            hpo_status(Completion("Succeeded", "ExperimentMaxTrialsReached", "max trials")),
            "Healthy",
            "ExperimentMaxTrialsReached: max trials",
        ),
        (
            hpo_status(Completion("Succeeded", "ExperimentSuggestionEndReached", "no more")),
            "Healthy",
            "ExperimentSuggestionEndReached: no more",
        ),
        (
            hpo_status(Completion("Failed", "ExperimentFailed", "max failed trials reached")),
            "Degraded",
            "max failed trials reached",
        ),
    ],
    ids=[
        "no-status",
        "empty-status",
        "no-conditions",
        "created",
        "running",
        "restarting",
        "goal-reached",
        "failed",
        "failed-unsaid",
        "restarted-running",
        "hpo-running",
        "hpo-max-trials",
        "hpo-suggestion-end",
        "hpo-failed",
    ],
)
def test_the_health_check_reads_every_state(obj: dict[str, Any], status: str, message: str) -> None:
    assert health(obj) == {"status": status, "message": message}


def test_the_health_check_needs_no_library_argocd_cm_lacks() -> None:
    lua = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    lua.execute("string = nil")
    lua.globals().obj = lua.table_from({"status": {"conditions": []}}, recursive=True)
    assert lua.execute(health_check())["status"] == "Progressing"
    assert "string." not in health_check() and "math." not in health_check()


def rendered() -> dict[str, str]:
    return Project(REPO_ROOT).rendered()


def test_argocd_cm_carries_the_check_and_annotation_tracking() -> None:
    cm = yamlio.load(rendered()[f"{ARGOCD_FOLDER}/argocd-cm.yaml"], data=True)
    assert cm["data"][HEALTH_KEY] == health_check()
    assert cm["data"]["application.resourceTrackingMethod"] == "annotation"


def crd_schema(path: Path) -> dict[str, Any]:
    crd = yamlio.load(path.read_text(), data=True)
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_every_application_validates_against_argo_cds_crd() -> None:
    schema = crd_schema(ARGOCD_CRDS / "application-crd.yaml")
    tree = rendered()
    applications = [
        yamlio.load(text, data=True)
        for name, text in tree.items()
        if name.startswith(f"{ARGOCD_FOLDER}/application-")
    ]
    assert {a["metadata"]["name"] for a in applications} == {"hpo-prod", "hpo-crds"}
    for application in applications:
        jsonschema.validate(application, schema)
        policy = application["spec"]["syncPolicy"]
        assert policy["retry"]["backoff"]["factor"] == 2
        assert "ServerSideApply=true" in policy["syncOptions"]
    prod = next(a for a in applications if a["metadata"]["name"] == "hpo-prod")
    paths = prod["metadata"]["annotations"]["argocd.argoproj.io/manifest-generate-paths"]
    assert "/overlays/prod" in paths.split(";") and "status" not in paths
    assert "CreateNamespace=true" in prod["spec"]["syncPolicy"]["syncOptions"]
    labels = prod["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
    assert labels["katib.kubeflow.org/metrics-collector-injection"] == "enabled"


def kustomize(folder: str) -> list[dict[str, Any]]:
    return build(REPO_ROOT / "overlays" / folder)


@pytest.mark.parametrize("folder", ["dev", "prod", "controller", "crds", "argocd"])
def test_every_built_object_validates_against_its_schema(folder: str) -> None:
    """Experiments against the rendered CRD (as the API server would check them),
    Applications against Argo CD's CRD, everything else against Kubernetes' schemas."""
    crds = {
        "Experiment": crd_schema(REPO_ROOT / "overlays" / "crds" / "experiments.yaml"),
        "Application": crd_schema(ARGOCD_CRDS / "application-crd.yaml"),
    }
    documents = kustomize(folder)
    assert documents
    for document in documents:
        if document["kind"] in crds:
            jsonschema.validate(document, crds[document["kind"]])
        else:
            kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_argocd_cm_entry_validates_as_a_config_map() -> None:
    cm = yamlio.load(rendered()[f"{ARGOCD_FOLDER}/argocd-cm.yaml"], data=True)
    kubernetes_validate.validate(cm, KUBERNETES, strict=True)


def structural_problems(node: dict[str, Any], at: str = "") -> list[str]:
    """Kubernetes' rules for a structural schema, as far as hpo-gen's schema can break them."""
    problems = []
    typed = "type" in node or node.get("x-kubernetes-int-or-string")
    if not typed and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{at}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{at}: properties and additionalProperties")
    for banned in ("$ref", "oneOf", "anyOf", "allOf", "const", "$defs"):
        if banned in node:
            problems.append(f"{at}: {banned}")
    for key, child in (node.get("properties") or {}).items():
        problems += structural_problems(child, f"{at}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += structural_problems(node[key], f"{at}[{key}]")
    return problems


def test_the_experiment_crd_is_structural_and_refuses_a_malformed_experiment() -> None:
    crd = experiment_crd()
    kubernetes_validate.validate(crd, KUBERNETES, strict=True)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_problems(schema) == []
    experiment = next(d for d in kustomize("prod") if d["kind"] == "Experiment")
    jsonschema.validate(experiment, schema)
    for field, value in [
        ("maxTrialCount", "ten"),
        ("parameters", {"lr": 1}),
        ("objective", {"type": 7}),
    ]:
        broken = json.loads(json.dumps(experiment))
        broken["spec"][field] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
    trial_spec = schema["properties"]["spec"]["properties"]["trialTemplate"]["properties"]
    assert trial_spec["trialSpec"]["x-kubernetes-preserve-unknown-fields"] is True


def test_the_controller_role_is_namespaced_and_holds_only_the_verbs_it_calls() -> None:
    tree = rendered()
    role = yamlio.load(tree["controller/role.yaml"], data=True)
    assert role["kind"] == "Role"
    assert not any("ClusterRole" in text for name, text in tree.items() if "controller/" in name)
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
    assert [(r["apiGroups"][0], r["resources"], r["verbs"]) for r in role["rules"]] == [
        (group, kinds, verbs) for group, kinds, verbs, _ in ROLE_RULES
    ]
    docs = (REPO_ROOT / "docs" / "gitops.md").read_text()
    for _, kinds, verbs, _ in ROLE_RULES:
        assert f"`{kinds[0]}`" in docs and all(f"`{v}`" in docs for v in verbs)


def test_credentials_are_a_secret_reference_never_a_value() -> None:
    docs = kustomize("prod")
    assert not [d for d in docs if d["kind"] == "Secret"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "git-credentials", "secret": {"secretName": "hpo-git-credentials"}} in pod[
        "volumes"
    ]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["memory"]
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert config["data"]["credentialsSecret"] == "hpo-git-credentials"
    assert config["data"]["repository"].startswith("https://")
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["spec"]["ports"][0]["name"] == "metrics"


def test_a_katib_environment_gets_the_controller_that_mirrors_it_and_no_crds(
    tmp_path: Path,
) -> None:
    import shutil

    shutil.copytree(REPO_ROOT / "spec", tmp_path / "spec")
    environments = tmp_path / "spec" / "environments.py"
    environments.write_text(
        environments.read_text().replace('executor="cluster"', 'executor="katib"')
    )
    tree = Project(tmp_path).rendered()
    config = yamlio.load(tree["prod/controller-config.yaml"], data=True)
    assert config["data"]["executor"] == "katib"
    assert config["data"]["repository"] == "https://github.com/hpo-gen/hpo-gen.git"
    kustomization = yamlio.load(tree["prod/kustomization.yaml"], data=True)
    assert "../controller" in kustomization["resources"]
    deployment = yamlio.load(tree["controller/deployment.yaml"], data=True)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    executor = next(e for e in env if e["name"] == "HPO_EXECUTOR")
    assert executor["valueFrom"]["configMapKeyRef"]["key"] == "executor"
    assert not [name for name in tree if name.startswith("crds/")]  # Katib brings its own
    assert f"{ARGOCD_FOLDER}/application-crds.yaml" not in tree
    # without gitops, Katib alone: no controller
    environments.write_text(
        environments.read_text().replace(
            'repository = gitops("https://github.com/hpo-gen/hpo-gen.git", branch="main")', ""
        )
    )
    bare = Project(tmp_path).rendered()
    assert "controller/deployment.yaml" not in bare
    assert "prod/controller-config.yaml" not in bare
