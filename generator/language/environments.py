"""Deployment environments (dev, prod, ...): where the experiments of a repository run and
how they differ there. Each becomes one kustomize overlay over `base/`; `hpo-controller run
--env NAME` executes a local one, the controller's Deployment or Katib a cluster one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import Field

from generator.files.origin import caller_origin
from generator.katib.base import KatibModel

# local: hpo-controller on a workstation or CI runner, trials as local processes.
# cluster: hpo-controller's Deployment in the cluster, trials as Kubernetes workloads.
# katib: a cluster that runs Katib itself; the overlay holds the Experiments only.
Executor = Literal["local", "cluster", "katib"]
EXECUTORS: tuple[str, ...] = ("local", "cluster", "katib")
# Where hpo-controller commits results: "branch", the branch checked out (a person at a
# laptop); "status-branch", a branch of their own (`hpo-status/<env>` unless named), never
# one people work on; "none", files only. None: "branch" for a local environment,
# "status-branch" for a cluster.
Results = Literal["branch", "status-branch", "none"]
DEFAULT_COMMIT_INTERVAL = 60.0  # seconds: at most one progress commit an experiment
# What a results commit's message may say, as {name} in `commit_message`; the default says
# how the experiment stands, with `[skip ci]` (results are data: no pipeline for them).
MESSAGE_FIELDS = ("summary", "experiment", "namespace", "environment", "trials", "tally")
DEFAULT_COMMIT_MESSAGE = "{summary} [skip ci]\n\n{trials} trials: {tally}."
# The trial kinds an environment with executor "local" runs: a Job as its primary
# container's command, a PyTorchJob as one process per replica. Others (a TFJob, an Argo
# Workflow, a Tekton PipelineRun, ...) need a cluster.
LOCAL_TRIAL_KINDS = frozenset({"Job", "PyTorchJob"})


def default_status_branch(environment: str) -> str:
    """The branch an environment's results go to unless it names one."""
    return f"hpo-status/{environment}"


class Budget(KatibModel):
    """Overrides of an Experiment's trial budget; None keeps the spec's value."""

    max_trial_count: int | None = None
    parallel_trial_count: int | None = None
    max_failed_trial_count: int | None = None


class Image(KatibModel):
    """A kustomize image override: containers running `name` (any tag) run
    `new_name:new_tag` or `new_name@digest` instead."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None


class Resources(KatibModel):
    """Requests and limits for each trial's primary container (quantities as strings)."""

    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None


class GitOps(KatibModel):
    """The repository Argo CD syncs from and the in-cluster controller writes results to.
    path: where this repository's `overlays/` lies, relative to its root ('' for the
    root); credentials_secret: the Secret holding the controller's git credentials (a
    reference only: no credential is ever rendered)."""

    repository: str
    branch: str = "main"
    path: str = ""
    argocd_namespace: str = "argocd"
    project: str = "default"
    credentials_secret: str = "hpo-git-credentials"
    controller_image: str = "ghcr.io/hpo-gen/hpo-controller:0.1.0"


class Environment(KatibModel):
    """name: the overlay folder; namespace: where the Experiments go; experiments: the
    names or glob patterns it takes ("*" for all); executor: see EXECUTORS; the rest are
    this environment's overrides of what `spec/` says, rendered as kustomize patches."""

    name: str
    namespace: str
    experiments: tuple[str, ...]
    executor: Executor = "local"
    budget: Budget | None = None
    budgets: dict[str, Budget] = Field(default_factory=dict)
    images: tuple[Image, ...] = ()
    resources: Resources | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    warm_starts: bool = True
    results: Results | None = None
    status_branch: str | None = None
    protected_branches: tuple[str, ...] = ()
    push: str | None = None
    commit_interval: float = DEFAULT_COMMIT_INTERVAL
    commit_author: str | None = None
    commit_message: str = DEFAULT_COMMIT_MESSAGE
    commit_trailers: dict[str, str] = Field(default_factory=dict)

    @property
    def in_cluster(self) -> bool:
        """Whether its overlay is synced to a cluster (by Argo CD)."""
        return self.executor != "local"

    @property
    def results_to(self) -> Results:
        if self.results is not None:
            return self.results
        return "status-branch" if self.executor == "cluster" else "branch"

    @property
    def results_branch(self) -> str:
        return self.status_branch or default_status_branch(self.name)

    @property
    def push_to(self) -> str | None:
        """The remote results are pushed to: a cluster's controller pushes to the
        repository it cloned ("origin") unless told otherwise."""
        if self.push is not None:
            return self.push or None
        return "origin" if self.executor == "cluster" else None


def environment(
    name: str,
    *,
    namespace: str,
    experiments: Sequence[str] | str,
    executor: Executor = "local",
    budget: Budget | None = None,
    budgets: Mapping[str, Budget] | None = None,
    images: Sequence[Image] = (),
    resources: Resources | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    warm_starts: bool = True,
    results: Results | None = None,
    status_branch: str | None = None,
    protected_branches: Sequence[str] = (),
    push: str | None = None,
    commit_interval: float = DEFAULT_COMMIT_INTERVAL,
    commit_author: str | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    commit_trailers: Mapping[str, str] | None = None,
) -> Environment:
    """An environment takes only the experiments it names (or matches: "katib-*", "*");
    its overrides apply to each of them. results, status_branch, push, commit_interval:
    where hpo-controller commits the results, and the remote it pushes them to ("" for
    none); protected_branches: branches (or glob patterns, "release/*") that results are
    never committed onto unless `results` says "branch": checked out, they send a local
    environment's results to its status branch; commit_author ("Name <email>"),
    commit_message (a template of MESSAGE_FIELDS)
    and commit_trailers: how its commits read. Every commit also carries the trailers
    `Experiment:` and `Environment:`."""
    env = Environment(
        name=name,
        namespace=namespace,
        experiments=(experiments,) if isinstance(experiments, str) else tuple(experiments),
        executor=executor,
        budget=budget,
        budgets=dict(budgets or {}),
        images=tuple(images),
        resources=resources,
        labels=dict(labels or {}),
        annotations=dict(annotations or {}),
        warm_starts=warm_starts,
        results=results,
        status_branch=status_branch,
        protected_branches=(
            (protected_branches,)
            if isinstance(protected_branches, str)
            else tuple(protected_branches)
        ),
        push=push,
        commit_interval=commit_interval,
        commit_author=commit_author,
        commit_message=commit_message,
        commit_trailers=dict(commit_trailers or {}),
    )
    return env.located(caller_origin())


def budget(
    *,
    max_trial_count: int | None = None,
    parallel_trial_count: int | None = None,
    max_failed_trial_count: int | None = None,
) -> Budget:
    """An environment's budget for its experiments, e.g. budget(max_trial_count=4)."""
    value = Budget(
        max_trial_count=max_trial_count,
        parallel_trial_count=parallel_trial_count,
        max_failed_trial_count=max_failed_trial_count,
    )
    return value.located(caller_origin())


def image(
    name: str, *, new_name: str | None = None, tag: str | None = None, digest: str | None = None
) -> Image:
    """image("ghcr.io/org/trainers", tag="1.4.0"): the trials of an environment run that
    image's tag 1.4.0 (kustomize's `images:` transformer)."""
    value = Image(name=name, new_name=new_name, new_tag=tag, digest=digest)
    return value.located(caller_origin())


def resources(
    *, requests: Mapping[str, str] | None = None, limits: Mapping[str, str] | None = None
) -> Resources:
    """resources(requests={"cpu": "2"}, limits={"memory": "4Gi"}) for each trial's primary
    container in an environment."""
    value = Resources(
        requests=None if requests is None else dict(requests),
        limits=None if limits is None else dict(limits),
    )
    return value.located(caller_origin())


def gitops(
    repository: str,
    *,
    branch: str = "main",
    path: str = "",
    argocd_namespace: str = "argocd",
    project: str = "default",
    credentials_secret: str = "hpo-git-credentials",
    controller_image: str = "ghcr.io/hpo-gen/hpo-controller:0.1.0",
) -> GitOps:
    """Where Argo CD reads this repository and the in-cluster controller pushes results;
    declared once, beside the environments."""
    value = GitOps(
        repository=repository,
        branch=branch,
        path=path,
        argocd_namespace=argocd_namespace,
        project=project,
        credentials_secret=credentials_secret,
        controller_image=controller_image,
    )
    return value.located(caller_origin())
