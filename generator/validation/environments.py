"""The checks on environments: their names, what they take, their overrides (checked as
Kubernetes checks them: label syntax, quantities, image references), the repository
cluster environments need, and every experiment as the environment runs it, validated
again with its overrides applied."""

from __future__ import annotations

import re
from collections.abc import Sequence

from generator.katib.identity import NAME_LABEL
from generator.katib.models import Experiment
from generator.katib.repository import NOT_ENVIRONMENTS
from generator.language.environments import (
    LOCAL_TRIAL_KINDS,
    MESSAGE_FIELDS,
    Environment,
    GitOps,
)
from generator.language.placement import chosen, effective_budget, split_image, unmatched
from generator.problems import FieldPath, Problem, did_you_mean
from generator.validation.locating import place
from generator.validation.rules import check_budget

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Kubernetes' label and annotation keys: an optional DNS-subdomain prefix and a name.
_KEY_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]")
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")
# A Kubernetes resource quantity (resource.Quantity's grammar).
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[mkMGTPE]|n|u)?")
_IMAGE_NAME = re.compile(r"[a-z0-9]+([._-]+[a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._/-]+[a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
_BUDGET_HINT = "budget(max_trial_count=..., parallel_trial_count=..., max_failed_trial_count=...)"


def check_environments(
    environments: Sequence[Environment],
    experiments: Sequence[Experiment],
    gitops: GitOps | None,
    complete: bool,
) -> list[Problem]:
    """Every environment's problems; `complete`: whether `experiments` is every experiment
    of the spec folder (a module that failed to load may hold the ones it names)."""
    problems: list[Problem] = []
    for env in environments:
        found = _own(env) + _takes(env, experiments, complete)
        problems += place(found, env, None)
        if not found:
            problems += _as_run(env, chosen(env, experiments))
    if gitops is not None:
        problems += place(_gitops(gitops), gitops, None)
    elif any(env.executor == "cluster" for env in environments):
        clustered = ", ".join(repr(e.name) for e in environments if e.executor == "cluster")
        problems.append(
            Problem(
                "gitops",
                (),
                f"hpo-controller runs {clustered} in a cluster and pushes the results to this "
                "repository, and no gitops(...) says where the repository is",
                "declare it beside the environments, e.g. "
                "repo = gitops('https://github.com/org/hpo.git', branch='main')",
                origin=next(e.origin for e in environments if e.executor == "cluster"),
            )
        )
    return problems


def _own(env: Environment) -> list[Problem]:
    where = f"environment {env.name!r}: "
    problems = []
    if not _DNS1123_LABEL.fullmatch(env.name) or env.name in NOT_ENVIRONMENTS:
        taken = ", ".join(repr(n) for n in sorted(NOT_ENVIRONMENTS))
        problems.append(
            Problem(
                "environment",
                ("name",),
                f"{where}the name must be a DNS-1123 label other than {taken}",
                "use lower-case letters, digits and '-', e.g. 'dev' or 'prod'",
            )
        )
    if not _DNS1123_LABEL.fullmatch(env.namespace):
        problems.append(
            Problem(
                "environment",
                ("namespace",),
                f"{where}namespace must be a DNS-1123 label, got {env.namespace!r}",
                "use lower-case letters, digits and '-', e.g. 'hpo-dev'",
            )
        )
    for key, value in env.labels.items():
        problems += _metadata(where, ("labels", key), key, value, label=True)
        if key == NAME_LABEL:
            problems.append(
                Problem(
                    "environment-label",
                    ("labels", key),
                    f"{where}the label {NAME_LABEL} is hpo-gen's: it names each experiment",
                    "use another key",
                )
            )
    for key, value in env.annotations.items():
        problems += _metadata(where, ("annotations", key), key, value, label=False)
    for index, image in enumerate(env.images):
        problems += _image(where, index, image.name, image.new_name, image.new_tag, image.digest)
    if env.resources is not None:
        for field in ("requests", "limits"):
            for resource, quantity in (getattr(env.resources, field) or {}).items():
                if not _QUANTITY.fullmatch(quantity):
                    problems.append(
                        Problem(
                            "environment-resources",
                            ("resources", field, resource),
                            f"{where}{field}[{resource!r}] is not a Kubernetes quantity: "
                            f"{quantity!r}",
                            "write a quantity such as '500m', '2', '4Gi'",
                        )
                    )
    problems += _results(env, where)
    for name, layer in [("", env.budget), *env.budgets.items()]:
        if layer is None:
            continue
        for field, value in layer.to_wire().items():
            least = 0 if field == "maxFailedTrialCount" else 1
            if value < least:
                at: FieldPath = ("budgets", name, field) if name else ("budget", field)
                problems.append(
                    Problem(
                        "environment-budget",
                        at,
                        f"{where}{field} must be at least {least}, got {value}",
                        _BUDGET_HINT,
                    )
                )
    return problems


# A branch name git accepts (`git check-ref-format --branch`), kept to a plain subset.
_BRANCH = re.compile(r"(?!-)(?!.*\.\.)(?!.*//)(?!.*\.lock$)(?!.*/$)(?!.*\.$)[A-Za-z0-9._/-]{1,200}")
_AUTHOR = re.compile(r"[^<>\n\0]*[^<>\s][^<>\n\0]* <[^<>\s]+>")
_FIELD = re.compile(r"\{([^{}\n]*)\}")
_TRAILER = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
_REMOTE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}|(https://|ssh://|git@|file://)[^\s'\"]+")


def _results(env: Environment, where: str) -> list[Problem]:
    problems = []
    if env.executor == "cluster" and env.results == "branch":
        problems.append(
            Problem(
                "environment-results",
                ("results",),
                f"{where}a controller in a cluster has no branch of a person's to commit to",
                "use results='status-branch' (the default) or results='none'",
            )
        )
    if env.status_branch is not None and not _BRANCH.fullmatch(env.status_branch):
        problems.append(
            Problem(
                "environment-results",
                ("status_branch",),
                f"{where}status_branch {env.status_branch!r} is not a branch name",
                "e.g. 'hpo-status/prod': letters, digits, '.', '_', '-' and '/'",
            )
        )
    for index, pattern in enumerate(env.protected_branches):
        if not _BRANCH.fullmatch(pattern.replace("*", "x").replace("?", "x")):
            problems.append(
                Problem(
                    "environment-results",
                    ("protected_branches", index),
                    f"{where}protected_branches {pattern!r} is not a branch name or pattern",
                    "e.g. 'main' or 'release/*': letters, digits, '.', '_', '-', '/', '*'",
                )
            )
    if env.protected_branches and env.executor != "local":
        problems.append(
            Problem(
                "environment-results",
                ("protected_branches",),
                f"{where}protected_branches is for local environments: a controller in a "
                "cluster commits to its status branch only",
                "leave protected_branches out",
            )
        )
    if env.push and not _REMOTE.fullmatch(env.push):
        problems.append(
            Problem(
                "environment-results",
                ("push",),
                f"{where}push {env.push!r} is neither a remote's name nor a git URL",
                "name a remote of the clone, e.g. push='origin', or give its URL",
            )
        )
    if env.push_to is not None and env.results_to != "status-branch":
        problems.append(
            Problem(
                "environment-results",
                ("push",),
                f"{where}results are pushed only from a status branch: pushing the branch "
                "checked out would push a person's own commits with them",
                "set results='status-branch', or leave push out",
            )
        )
    if env.commit_author is not None and not _AUTHOR.fullmatch(env.commit_author):
        problems.append(
            Problem(
                "environment-results",
                ("commit_author",),
                f"{where}commit_author {env.commit_author!r} is not 'Name <email>'",
                "e.g. commit_author='hpo-bot <hpo-bot@example.com>'",
            )
        )
    unknown = sorted(set(_FIELD.findall(env.commit_message)) - set(MESSAGE_FIELDS))
    if unknown or not env.commit_message.strip() or "\0" in env.commit_message:
        problems.append(
            Problem(
                "environment-results",
                ("commit_message",),
                f"{where}commit_message must be text with only these fields: "
                f"{', '.join('{' + f + '}' for f in MESSAGE_FIELDS)}"
                + (f"; got {', '.join('{' + u + '}' for u in unknown)}" if unknown else ""),
                "e.g. commit_message='results: {summary} [skip ci]'",
            )
        )
    for key, value in env.commit_trailers.items():
        if not _TRAILER.fullmatch(key) or "\n" in value or "\0" in value or not value.strip():
            problems.append(
                Problem(
                    "environment-results",
                    ("commit_trailers", key),
                    f"{where}trailer {key!r}: {value!r} is not a git trailer",
                    "a key of letters, digits and '-', and a one-line value",
                )
            )
    if not 1 <= env.commit_interval <= 86400:
        problems.append(
            Problem(
                "environment-results",
                ("commit_interval",),
                f"{where}commit_interval must be between 1 and 86400 seconds, got "
                f"{env.commit_interval:g}",
                "e.g. commit_interval=60",
            )
        )
    return problems


def _metadata(where: str, path: FieldPath, key: str, value: str, *, label: bool) -> list[Problem]:
    what = "label" if label else "annotation"
    prefix, slash, name = key.rpartition("/")
    problems = []
    if not _KEY_NAME.fullmatch(name) or (slash and not _PREFIX.fullmatch(prefix)):
        problems.append(
            Problem(
                f"environment-{what}",
                path,
                f"{where}{what} key {key!r} is not a Kubernetes {what} key",
                "use an optional DNS prefix and '/', then up to 63 letters, digits, "
                "'-', '_' or '.', e.g. 'team.example.com/owner'",
            )
        )
    if label and not _LABEL_VALUE.fullmatch(value):
        problems.append(
            Problem(
                "environment-label",
                path,
                f"{where}label value {value!r} is not a Kubernetes label value",
                "use up to 63 letters, digits, '-', '_' or '.', starting and ending with a "
                "letter or digit",
            )
        )
    return problems


def _image(
    where: str, index: int, name: str, new_name: str | None, tag: str | None, digest: str | None
) -> list[Problem]:
    path: FieldPath = ("images", index)
    problems = []
    for value, what in ((name, "name"), (new_name, "new_name")):
        if value is not None and not _IMAGE_NAME.fullmatch(value):
            problems.append(
                Problem(
                    "environment-image",
                    path,
                    f"{where}{what} {value!r} is not an image name (no tag or digest)",
                    "write the repository only, e.g. image('ghcr.io/org/trainers', tag='1.2')",
                )
            )
    if tag is not None and not _TAG.fullmatch(tag):
        problems.append(
            Problem(
                "environment-image",
                path,
                f"{where}tag {tag!r} is not an image tag",
                "use letters, digits, '_', '.' and '-', at most 128 characters",
            )
        )
    if digest is not None and not _DIGEST.fullmatch(digest):
        problems.append(
            Problem(
                "environment-image",
                path,
                f"{where}digest {digest!r} is not an image digest",
                "write it as 'sha256:' and the hex digest",
            )
        )
    if tag is not None and digest is not None:
        problems.append(
            Problem(
                "environment-image",
                path,
                f"{where}image {name!r} gives both a tag and a digest",
                "give one: a digest pins the image, a tag names it",
            )
        )
    if new_name is None and tag is None and digest is None:
        problems.append(
            Problem(
                "environment-image",
                path,
                f"{where}image {name!r} changes nothing",
                "give new_name=, tag= or digest=",
            )
        )
    return problems


def _takes(env: Environment, experiments: Sequence[Experiment], complete: bool) -> list[Problem]:
    where = f"environment {env.name!r}: "
    names = [e.name for e in experiments]
    problems = []
    if not env.experiments:
        problems.append(
            Problem(
                "environment-experiments",
                ("experiments",),
                f"{where}takes no experiment",
                "name the experiments it runs, e.g. experiments=['mnist-tpe'], or "
                "experiments='*' for every one",
            )
        )
    if complete:
        for index, pattern in unmatched(env, names):
            problems.append(
                Problem(
                    "environment",
                    ("experiments", index),
                    f"{where}no experiment is named {pattern!r}"
                    if not any(c in pattern for c in "*?[")
                    else f"{where}the pattern {pattern!r} matches no experiment",
                    did_you_mean(pattern, names) if names else "define it in spec/",
                )
            )
    taken = {e.name for e in chosen(env, experiments)}
    for name in env.budgets:
        if complete and name not in taken:
            problems.append(
                Problem(
                    "environment-budget",
                    ("budgets", name),
                    f"{where}has a budget for {name!r}, which it does not take",
                    f"add {name!r} to experiments=, or drop its budget",
                )
            )
    return problems


def _as_run(env: Environment, experiments: list[Experiment]) -> list[Problem]:
    """Each experiment as the environment runs it: a budget override may break one of
    Katib's rules (parallelism above the trial count, a grid's size, hyperband's needs),
    and its trials may not run there. Images and resources are checked as values above:
    they change nothing else a rule reads."""
    problems: list[Problem] = []
    for experiment in experiments:
        problems += _local_kind(env, experiment)
        override = effective_budget(env, experiment.name).to_wire()
        if not override:
            continue  # its budget is the spec's, checked as written
        spec = experiment.spec.model_copy(
            update=effective_budget(env, experiment.name).model_dump(exclude_none=True)
        )
        running = experiment.model_copy(update={"spec": spec})
        for problem in check_budget(running):
            problems.append(
                Problem(
                    problem.code,
                    problem.path,
                    f"in environment {env.name!r}, with its budget: {problem.message}",
                    problem.hint,
                    experiment=experiment.name,
                    origin=env.origin,
                )
            )
    return problems


def _local_kind(env: Environment, experiment: Experiment) -> list[Problem]:
    """A local environment's experiments whose trials cannot run on one machine: said
    before anything runs, where the trial's kind is known (an inline template)."""
    if env.executor != "local":
        return []
    template = experiment.spec.trial_template
    kind = (template.trial_spec or {}).get("kind") if template is not None else None
    # A kind that is not a string is the template rule's problem, said there.
    if not isinstance(kind, str) or kind in LOCAL_TRIAL_KINDS:
        return []
    return place(
        [
            Problem(
                "local-trial-kind",
                ("spec", "trialTemplate", "trialSpec", "kind"),
                f"environment {env.name!r} runs trials on this machine, where hpo-controller "
                f"runs {' and '.join(sorted(LOCAL_TRIAL_KINDS))} trials; this one is a "
                f"{kind}",
                f"run it in an environment with executor='cluster', or leave it out of "
                f"{env.name!r}'s experiments=[...]",
            )
        ],
        experiment,
        experiment.name,
    )


def _gitops(gitops: GitOps) -> list[Problem]:
    problems = []
    if not re.fullmatch(r"(https://|ssh://|git@)[^\s'\"]+", gitops.repository):
        problems.append(
            Problem(
                "gitops",
                ("repository",),
                f"repository {gitops.repository!r} is not a git URL Argo CD can clone",
                "give an https:// or ssh:// URL, or git@host:org/repo.git",
            )
        )
    if gitops.path.startswith("/") or ".." in gitops.path.split("/"):
        problems.append(
            Problem(
                "gitops",
                ("path",),
                f"path {gitops.path!r} must be relative to the repository's root",
                "give the folder that holds overlays/, e.g. 'hpo' ('' for the root)",
            )
        )
    for field in ("argocd_namespace", "credentials_secret"):
        value = getattr(gitops, field)
        if not _DNS1123_LABEL.fullmatch(value):
            problems.append(
                Problem(
                    "gitops",
                    (field,),
                    f"{field} must be a DNS-1123 label, got {value!r}",
                    "use lower-case letters, digits and '-'",
                )
            )
    name, suffix = split_image(gitops.controller_image)
    tag, _, digest = suffix.partition("@")
    if (
        not _IMAGE_NAME.fullmatch(name)
        or (tag and not _TAG.fullmatch(tag.removeprefix(":")))
        or (digest and not _DIGEST.fullmatch(digest))
    ):
        problems.append(
            Problem(
                "gitops",
                ("controller_image",),
                f"controller_image {gitops.controller_image!r} is not an image reference",
                "e.g. 'ghcr.io/org/hpo-controller:0.1.0'",
            )
        )
    if not re.fullmatch(r"[A-Za-z0-9][-A-Za-z0-9_./]*", gitops.branch):
        problems.append(
            Problem(
                "gitops",
                ("branch",),
                f"branch {gitops.branch!r} is not a branch name",
                "e.g. 'main'",
            )
        )
    return problems
