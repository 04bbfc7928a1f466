"""Environments as overlays: names that carry the hash of what Katib never updates, the
overrides' problems said where they were written, and overrides reaching trial templates
kept in ConfigMaps through kustomize."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator.files import yamlio
from generator.files.kustomize import build
from generator.katib.identity import MAX_NAME_LENGTH, PBT_MAX_NAME_LENGTH, name_limit, object_name
from generator.katib.models import Experiment
from generator.language.environments import Budget, Environment, Image, Resources
from generator.language.placement import dress_containers, rewrite_image
from generator.project.pipeline import Project
from generator.rendering import render
from generator.validation.environments import check_environments
from tests.conftest import REPO_ROOT, ProjectFactory, run_cli
from tests.controller.test_run_end_to_end import CONFIGMAP_SPEC

EXPERIMENTS = Project(REPO_ROOT).validated_specs().experiments
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def changed(experiment: Experiment, path: tuple[str | int, ...], value: Any) -> Experiment:
    wire = experiment.to_wire()
    node = wire
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return Experiment.model_validate(wire)


BUDGETS = st.sampled_from(["maxTrialCount", "parallelTrialCount", "maxFailedTrialCount"])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(EXPERIMENTS), BUDGETS, st.integers(1, 10_000))
def test_a_budget_change_keeps_the_name(experiment: Experiment, field: str, value: int) -> None:
    assert object_name(changed(experiment, ("spec", field), value)) == object_name(experiment)


def leaves(value: Any, at: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaves(v, (*at, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaves(v, (*at, i))]
    return [at]


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_any_other_change_to_the_spec_changes_the_name(data: st.DataObject) -> None:
    experiment = data.draw(st.sampled_from(EXPERIMENTS))
    wire = experiment.to_wire()
    budget = {"maxTrialCount", "parallelTrialCount", "maxFailedTrialCount"}
    paths = [p for p in leaves(wire["spec"], ("spec",)) if p[1] not in budget]
    path = data.draw(st.sampled_from(paths))
    old = experiment.to_wire()
    for key in path:
        old = old[key]
    new = data.draw(
        st.one_of(st.text(min_size=1, max_size=8), st.integers(), st.booleans()).filter(
            lambda v: v != old or type(v) is not type(old)
        )
    )
    try:
        other = changed(experiment, path, new)
    except ValueError:
        return  # the model refuses the value: no Experiment to name
    if other.spec.to_wire() != experiment.spec.to_wire():
        assert object_name(other) != object_name(experiment)


@given(st.from_regex(_DNS_LABEL, fullmatch=True).filter(lambda n: len(n) <= 63), st.booleans())
def test_the_name_fits_katibs_limit_after_the_hash(name: str, pbt: bool) -> None:
    experiment = EXPERIMENTS[0]
    wire = experiment.to_wire()
    wire["metadata"]["name"] = name
    if pbt:
        wire["spec"]["algorithm"] = {"algorithmName": "pbt"}
    named = object_name(Experiment.model_validate(wire))
    limit = PBT_MAX_NAME_LENGTH if pbt else MAX_NAME_LENGTH
    assert len(named) <= limit == name_limit(Experiment.model_validate(wire))
    assert _DNS_LABEL.fullmatch(named)
    assert named.startswith(name[: limit - 7].rstrip("-"))


def environments(body: str) -> str:
    return "from generator import budget, environment, gitops, image, resources\n\n" + body


def test_overrides_problems_are_said_where_they_were_written(
    make_project: ProjectFactory,
) -> None:
    root = make_project(copy_spec=True)
    (root / "spec/environments.py").write_text(
        environments(
            "dev = environment(\n"
            "    'dev',\n"
            "    namespace='hpo-dev',\n"
            "    experiments=['katib-tpe', 'katib-nope', 'forest-*', 'zzz-*'],\n"
            "    budgets={'katib-grid': budget(max_trial_count=3)},\n"
            "    images=[image('hpo-gen-trainers', tag='bad tag!')],\n"
            "    resources=resources(requests={'cpu': 'lots'}),\n"
            "    labels={'-bad': 'x'},\n"
            ")\n"
            "ci = environment('ci', namespace='hpo-ci', experiments=['katib-tpe'],\n"
            "    budget=budget(max_trial_count=2, parallel_trial_count=5))\n"
        )
    )
    result = run_cli("hpo-gen", "validate", cwd=root)
    assert result.returncode == 1
    err = result.stderr
    assert "no experiment is named 'katib-nope'" in err
    assert "the pattern 'zzz-*' matches no experiment" in err
    assert "has a budget for 'katib-grid', which it does not take" in err
    assert "tag 'bad tag!' is not an image tag" in err
    assert "requests['cpu'] is not a Kubernetes quantity: 'lots'" in err
    assert "label key '-bad' is not a Kubernetes label key" in err
    assert "in environment 'ci', with its budget:" in err
    assert "spec/environments.py:1" in err or "spec/environments.py:" in err


def test_an_environment_must_say_what_it_takes(make_project: ProjectFactory) -> None:
    root = make_project()
    (root / "spec/environments.py").write_text(
        environments("dev = environment('dev', namespace='hpo-dev')\n")
    )
    result = run_cli("hpo-gen", "validate", cwd=root)
    assert result.returncode == 1
    assert "experiments" in result.stderr


def test_the_gitops_declaration_is_checked(make_project: ProjectFactory) -> None:
    root = make_project()
    (root / "spec/environments.py").write_text(
        environments(
            "prod = environment('prod', namespace='hpo', experiments='*', executor='cluster')\n"
            "repo = gitops('ftp://x', path='../up', branch='-x',\n"
            "    controller_image='Bad Image!', credentials_secret='Not_A_Label')\n"
        )
    )
    result = run_cli("hpo-gen", "validate", cwd=root)
    assert result.returncode == 1
    for said in (
        "repository 'ftp://x' is not a git URL",
        "path '../up' must be relative",
        "branch '-x' is not a branch name",
        "controller_image 'Bad Image!' is not an image reference",
        "credentials_secret must be a DNS-1123 label",
    ):
        assert said in result.stderr


def test_a_cluster_environment_needs_the_repository(make_project: ProjectFactory) -> None:
    root = make_project()
    (root / "spec/environments.py").write_text(
        environments(
            "prod = environment('prod', namespace='hpo', experiments='*', executor='cluster')\n"
        )
    )
    result = run_cli("hpo-gen", "validate", cwd=root)
    assert result.returncode == 1
    assert "no gitops(...) says where the repository is" in result.stderr


def test_an_image_override_reaches_a_template_kept_in_a_config_map(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    root = make_project({"spec/quadratic.py": CONFIGMAP_SPEC})
    (root / "spec/environments.py").write_text(
        environments(
            "dev = environment('dev', namespace='hpo-dev', experiments='*',\n"
            "    images=[image('trainer', new_name='ghcr.io/org/trainer', tag='2')],\n"
            "    resources=resources(limits={'memory': '1Gi'}))\n"
        )
    )
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    docs = build(root / "overlays/dev")
    config_map = next(d for d in docs if d["kind"] == "ConfigMap" and "job.yaml" in d["data"])
    template = yamlio.load(config_map["data"]["job.yaml"], data=True)
    container = template["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/org/trainer:2"
    assert container["resources"]["limits"] == {"memory": "1Gi"}
    experiment = next(d for d in docs if d["kind"] == "Experiment")
    assert experiment["spec"]["trialTemplate"]["configMap"]["configMapNamespace"] == "hpo-dev"


IMAGES = [
    "reg:5000/x/t:1@sha256:" + "a" * 64,
    "reg:5000/x/t",
    "reg:5000/x/t:2",
    "reg:5000/x/t@sha256:" + "b" * 64,
    "reg:5000/x/tt:3",
    "other",
]


@pytest.mark.parametrize(
    "override",
    [
        Image(name="reg:5000/x/t", new_tag="9"),
        Image(name="reg:5000/x/t", digest="sha256:" + "c" * 64),
        Image(name="reg:5000/x/t", new_name="other/img"),
        Image(name="reg:5000/x/t", new_name="other/img", new_tag="4"),
        Image(name="other", new_tag="1"),
    ],
    ids=["tag", "digest", "name", "name-and-tag", "bare"],
)
def test_image_overrides_match_kustomizes_images_transformer(
    tmp_path: Path, override: Image
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(IMAGES)]},
    }
    (tmp_path / "pod.yaml").write_text(yamlio.dump(pod))
    entry = {k: v for k, v in override.to_wire().items()}
    (tmp_path / "kustomization.yaml").write_text(
        yamlio.dump({"resources": ["pod.yaml"], "images": [entry]})
    )
    [built] = build(tmp_path)
    assert [c["image"] for c in built["spec"]["containers"]] == [
        rewrite_image(im, [override]) for im in IMAGES
    ]


def test_overrides_leave_a_malformed_container_alone() -> None:
    """A trialSpec of a kind without a schema may hold anything where a container's name
    or image should be: an override changes what it can read and no more."""
    env = Environment(
        name="dev",
        namespace="hpo-dev",
        experiments=("*",),
        images=(Image(name="t", new_tag="2"),),
        resources=Resources(limits={"memory": "1Gi"}),
    )
    manifest: dict[str, Any] = {
        "spec": {
            "containers": [
                {"name": ["x"], "image": {"a": 1}},
                {"name": "main", "image": "t:1", "resources": "none"},
                "not a container",
            ]
        }
    }
    dress_containers(manifest, env, {"main"})
    first, second, third = manifest["spec"]["containers"]
    assert first == {"name": ["x"], "image": {"a": 1}}
    assert second == {"name": "main", "image": "t:2", "resources": {"limits": {"memory": "1Gi"}}}
    assert third == "not a container"


HOSTILE = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "-", "a/b/c", "../x", "x" * 70, "ok", "team.io/owner", "${x}", "\n"]),
)
QUANTITIES = st.one_of(st.sampled_from(["1", "500m", "2Gi", "1e3", "-1", "lots", ""]), HOSTILE)


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> Any:
    """Valid values three times in four, so that many examples get as far as rendering."""
    return st.one_of(valid, valid, valid, hostile)


LABEL_KEYS = st.sampled_from(["team", "hpo.example.com/owner", "tier"])
LABEL_VALUES = st.sampled_from(["ml", "a.b-c_d", ""])


@settings(max_examples=120, deadline=None)
@example(  # one that renders, whatever the search finds
    labels={"team": "ml"},
    annotations={"owner": "x"},
    image_name="hpo-gen-trainers",
    tag="1.0",
    digest=None,
    quantity="500m",
    budget_value=2,
    pattern="katib-*",
)
@given(
    labels=mostly(
        st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2),
        st.dictionaries(HOSTILE, HOSTILE, max_size=3),
    ),
    annotations=mostly(
        st.dictionaries(LABEL_KEYS, st.text(max_size=20), max_size=2),
        st.dictionaries(HOSTILE, HOSTILE, max_size=2),
    ),
    image_name=mostly(st.sampled_from(["hpo-gen-trainers", "ghcr.io/x/y", "other"]), HOSTILE),
    tag=mostly(st.sampled_from(["1.0", "dev", "v2_b"]), st.one_of(st.none(), HOSTILE)),
    digest=mostly(st.none(), st.one_of(st.just("sha256:" + "a" * 64), HOSTILE)),
    quantity=mostly(st.sampled_from(["1", "500m", "2Gi", "1e3"]), QUANTITIES),
    budget_value=mostly(st.integers(1, 3), st.integers(-3, 2**40)),
    pattern=mostly(st.sampled_from(["*", "katib-*", "katib-tpe"]), HOSTILE),
)
def test_hostile_overrides_are_problems_never_internal_errors(
    labels: dict[str, str],
    annotations: dict[str, str],
    image_name: str,
    tag: str | None,
    digest: str | None,
    quantity: str,
    budget_value: int,
    pattern: str,
) -> None:
    specs = Project(REPO_ROOT).validated_specs()
    env = Environment(
        name="dev",
        namespace="hpo-dev",
        experiments=(pattern,),
        budget=Budget(max_failed_trial_count=budget_value),
        images=(Image(name=image_name, new_tag=tag, digest=digest),),
        resources=Resources(limits={"cpu": quantity}),
        labels=labels,
        annotations=annotations,
    )
    problems = check_environments([env], specs.experiments, specs.gitops, complete=True)
    if problems:
        assert all(p.code and p.message and p.hint for p in problems)
        return
    tree = render(replace(specs, environments=[env]))
    assert "dev/kustomization.yaml" in tree
