"""Kubeflow Pipelines v2 components (the `kfp` SDK) that take an experiment's results into
the next step of a pipeline.

`best_hyperparameters_op()` is a lightweight Python component: in its own container it
installs hpo-gen alone (no torch, optuna or scikit-learn: it only reads status files),
fetches the team's repository at the branch the results go to, optionally waits until the
experiment has ended, and outputs its best trial as `parameters` (a dict), `arguments`
(`--name=value` strings, as the trials took them), `env` (NAME=value lines), `objective`
(the value) and `trial` (its name), as `hpo-gen best` prints them. Its base image needs
git (`python:3.11`, Debian's full image, has it). `pipelines/tune_then_train.py` feeds
them into a training step.

kfp pins an older Kubernetes client than hpo-controller needs: install
`hpo-gen[pipelines]` where pipelines are built and run, not beside the controller.

No `from __future__ import annotations` here: kfp reads the component's annotations as
types."""

from importlib.metadata import PackageNotFoundError, version
from typing import Any, NamedTuple

try:
    VERSION = version("hpo-gen")
except PackageNotFoundError:  # a checkout run without installing it
    VERSION = "0.1.0"

DEFAULT_PACKAGE = f"hpo-gen=={VERSION}"  # or `hpo-gen @ git+https://...@TAG`, an index's
BASE_IMAGE = "python:3.11"  # git is in it: the results are fetched with git


def best_hyperparameters(
    repository: str,
    experiment: str,
    environment: str = "",
    revision: str = "",
    wait_seconds: int = 0,
    poll_seconds: int = 30,
) -> NamedTuple(  # type: ignore[valid-type]  # kfp reads its outputs from this
    "BestHyperparameters",
    [("parameters", dict), ("arguments", list), ("env", str), ("objective", float), ("trial", str)],
):
    """The best trial of `experiment` in the results of the git `repository` at
    `revision` (a branch such as hpo-status/prod, a tag, a commit; the default branch
    when empty); `environment` where it ran in several; with `wait_seconds`, once the
    experiment has ended."""
    import json
    import sys
    from collections import namedtuple

    from generator.best_step import best_from_repository
    from generator.problems import ProblemReport

    try:
        found = best_from_repository(
            repository,
            experiment,
            environment or None,
            revision or None,
            wait_seconds,
            poll_seconds,
        )
    except ProblemReport as err:
        print(f"hpo-gen: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(found.to_json(), indent=2))
    BestHyperparameters = namedtuple(
        "BestHyperparameters", "parameters arguments env objective trial"
    )
    return BestHyperparameters(
        found.parameters, found.arguments, found.env, found.value, found.trial
    )


def best_hyperparameters_op(package: str = DEFAULT_PACKAGE, base_image: str = BASE_IMAGE) -> Any:
    """The component: `best_hyperparameters` in `base_image`, with hpo-gen installed from
    `package` (a pip requirement: this version by default, or where the team installs
    hpo-gen from)."""
    try:
        from kfp import dsl
    except ImportError as err:
        raise ImportError(
            "the pipeline components need kfp: pip install 'hpo-gen[pipelines]'"
        ) from err
    return dsl.component(best_hyperparameters, base_image=base_image, packages_to_install=[package])
