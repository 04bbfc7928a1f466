"""Deployment environments (dev, prod, ...): where the experiments of a repository run.
Each becomes one kustomize overlay; `hpo-controller run --env NAME` executes one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from generator._base import KatibModel
from generator.origin import caller_origin

Executor = Literal["local", "kubernetes"]


class Environment(KatibModel):
    """name: the overlay folder; namespace: where the Experiments go; experiments: the
    names it runs (None: all); executor: local processes or Kubernetes Jobs."""

    name: str
    namespace: str
    experiments: tuple[str, ...] | None = None
    executor: Executor = "local"


def environment(
    name: str,
    *,
    namespace: str,
    experiments: Sequence[str] | None = None,
    executor: Executor = "local",
) -> Environment:
    env = Environment(
        name=name,
        namespace=namespace,
        experiments=None if experiments is None else tuple(experiments),
        executor=executor,
    )
    return env.located(caller_origin())
