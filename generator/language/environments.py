"""Deployment environments (dev, prod, ...): where the experiments of a repository run.
Each becomes one kustomize overlay; `hpo-controller run --env NAME` executes one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from generator.files.origin import caller_origin
from generator.katib.base import KatibModel

Executor = Literal["local", "kubernetes"]
# The trial kinds an environment with executor "local" runs: a Job as its primary
# container's command, a PyTorchJob as one process per replica. Others (a TFJob, an Argo
# Workflow, a Tekton PipelineRun, ...) need a cluster.
LOCAL_TRIAL_KINDS = frozenset({"Job", "PyTorchJob"})


class Environment(KatibModel):
    """name: the overlay folder; namespace: where the Experiments go; experiments: the
    names it runs (None: all); executor: local processes or Kubernetes Jobs; warm_starts:
    local `python -m` trials fork from an interpreter with torch and friends imported."""

    name: str
    namespace: str
    experiments: tuple[str, ...] | None = None
    executor: Executor = "local"
    warm_starts: bool = True


def environment(
    name: str,
    *,
    namespace: str,
    experiments: Sequence[str] | None = None,
    executor: Executor = "local",
    warm_starts: bool = True,
) -> Environment:
    env = Environment(
        name=name,
        namespace=namespace,
        experiments=None if experiments is None else tuple(experiments),
        executor=executor,
        warm_starts=warm_starts,
    )
    return env.located(caller_origin())
