"""Rules on the Experiment as a whole: its name, trial budget, objective, algorithm name
and resume policy (Katib's `validator.go`, plus the name check Katib gets wrong)."""

from __future__ import annotations

import re

from generator.katib.identity import MAX_NAME_LENGTH
from generator.katib.models import Experiment, ExperimentSpec
from generator.problems import Problem, did_you_mean
from generator.validation.context import Context

_DNS1123_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# Kubernetes' own rule for a namespace: a DNS-1123 label of at most 63 characters.
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
RESUME_POLICIES = ("Never", "LongRunning", "FromVolume")
OBJECTIVE_TYPES = ("maximize", "minimize")


def check(experiment: Experiment, context: Context) -> list[Problem]:
    spec = experiment.spec
    return [
        *_name(experiment.metadata.name),
        *_namespace(experiment.metadata.namespace),
        *check_budget(spec),
        *_objective(spec),
        *_algorithm(spec, context),
        *_resume_policy(spec),
    ]


def _name(name: str) -> list[Problem]:
    # Katib's own regex is unanchored at the end, so it only checks the first letter;
    # the Service `<name>-<algorithm>` needs a real DNS-1123 label.
    problems = []
    if not _DNS1123_LABEL.fullmatch(name):
        problems.append(
            Problem(
                "name",
                ("metadata", "name"),
                f"must be a DNS-1123 label (lower-case letters, digits and '-', starting "
                f"with a letter, ending with a letter or digit), got {name!r}",
                "rename the experiment, e.g. "
                + repr(re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "my-experiment"),
            )
        )
    if len(name) > MAX_NAME_LENGTH:
        problems.append(
            Problem(
                "name-length",
                ("metadata", "name"),
                f"must be at most {MAX_NAME_LENGTH} characters, got {len(name)}",
                "shorten the name: Katib names the suggestion Service '<name>-<algorithm>', "
                "which must fit in 63 characters",
            )
        )
    return problems


def _namespace(namespace: str | None) -> list[Problem]:
    if namespace is None or _NAMESPACE.fullmatch(namespace):
        return []
    return [
        Problem(
            "namespace",
            ("metadata", "namespace"),
            "must be a DNS-1123 label of at most 63 characters (lower-case letters, digits "
            f"and '-', starting and ending with a letter or digit), got {namespace!r}",
            "name an existing Kubernetes namespace, e.g. 'kubeflow', or leave it out",
        )
    ]


def check_budget(spec: ExperimentSpec) -> list[Problem]:
    problems = []
    max_trials = spec.max_trial_count
    max_failed = spec.max_failed_trial_count
    parallel = spec.parallel_trial_count
    if max_failed is not None and max_failed < 0:
        problems.append(
            Problem(
                "budget",
                ("spec", "maxFailedTrialCount"),
                f"should not be less than 0, got {max_failed}",
                "set max_failed_trial_count to 0 or more",
            )
        )
    if max_trials is not None and max_trials <= 0:
        problems.append(
            Problem(
                "budget",
                ("spec", "maxTrialCount"),
                f"must be greater than 0, got {max_trials}",
                "set max_trial_count to 1 or more, or leave it out to run until the goal",
            )
        )
    if parallel is not None and parallel <= 0:
        problems.append(
            Problem(
                "budget",
                ("spec", "parallelTrialCount"),
                f"must be greater than 0, got {parallel}",
                "set parallel_trial_count to 1 or more",
            )
        )
    if max_trials is not None and max_failed is not None and max_failed > max_trials:
        problems.append(
            Problem(
                "budget",
                ("spec", "maxFailedTrialCount"),
                f"should be less than or equal to spec.maxTrialCount ({max_trials}), "
                f"got {max_failed}",
                "lower max_failed_trial_count or raise max_trial_count",
            )
        )
    if max_trials is not None and parallel is not None and parallel > max_trials:
        problems.append(
            Problem(
                "budget",
                ("spec", "parallelTrialCount"),
                f"should be less than or equal to spec.maxTrialCount ({max_trials}), "
                f"got {parallel}",
                "lower parallel_trial_count or raise max_trial_count",
            )
        )
    return problems


def _objective(spec: ExperimentSpec) -> list[Problem]:
    objective = spec.objective
    if objective is None:
        return [
            Problem(
                "objective",
                ("spec", "objective"),
                "is required",
                "give the experiment an objective, e.g. objective=maximize('accuracy')",
                yaml_hint="give spec.objective a type (maximize or minimize) and an "
                "objectiveMetricName",
            )
        ]
    problems = []
    if objective.type not in OBJECTIVE_TYPES:
        problems.append(
            Problem(
                "objective-type",
                ("spec", "objective", "type"),
                f"must be 'maximize' or 'minimize', got {objective.type!r}",
                did_you_mean(objective.type, OBJECTIVE_TYPES),
            )
        )
    if not objective.objective_metric_name:
        problems.append(
            Problem(
                "objective-metric",
                ("spec", "objective", "objectiveMetricName"),
                "is required",
                "name the metric the trials report, e.g. maximize('accuracy')",
                yaml_hint="set spec.objective.objectiveMetricName to the metric the trials report",
            )
        )
    additional = objective.additional_metric_names or []
    if objective.objective_metric_name in additional:
        index = additional.index(objective.objective_metric_name)
        problems.append(
            Problem(
                "objective-metric",
                ("spec", "objective", "additionalMetricNames", index),
                f"must not repeat the objective metric {objective.objective_metric_name!r}",
                "remove it from additional_metrics",
            )
        )
    return problems


def _algorithm(spec: ExperimentSpec, context: Context) -> list[Problem]:
    problems = []
    if spec.algorithm is None or not spec.algorithm.algorithm_name:
        path: tuple[str, ...] = ("spec", "algorithm")
        problems.append(
            Problem(
                "algorithm",
                path if spec.algorithm is None else (*path, "algorithmName"),
                "is required",
                "choose a suggestion algorithm, e.g. algorithm('random')",
                yaml_hint="set spec.algorithm.algorithmName, e.g. random",
            )
        )
    elif spec.algorithm.algorithm_name not in context.algorithm_names:
        name = spec.algorithm.algorithm_name
        problems.append(
            Problem(
                "algorithm-name",
                ("spec", "algorithm", "algorithmName"),
                f"unknown algorithm {name!r} ({context.source} has no suggestion service for it)",
                did_you_mean(name, context.algorithm_names),
            )
        )
    stopping = spec.early_stopping
    if stopping is not None and not stopping.algorithm_name:
        problems.append(
            Problem(
                "early-stopping-name",
                ("spec", "earlyStopping", "algorithmName"),
                "is required",
                "name the early-stopping algorithm, e.g. median_stop()",
                yaml_hint="set spec.earlyStopping.algorithmName: medianstop",
            )
        )
    elif stopping is not None and stopping.algorithm_name not in context.early_stopping_names:
        problems.append(
            Problem(
                "early-stopping-name",
                ("spec", "earlyStopping", "algorithmName"),
                f"unknown early-stopping algorithm {stopping.algorithm_name!r}",
                did_you_mean(stopping.algorithm_name, context.early_stopping_names),
            )
        )
    return problems


def _resume_policy(spec: ExperimentSpec) -> list[Problem]:
    policy = spec.resume_policy
    if policy is None or policy in RESUME_POLICIES:
        return []
    return [
        Problem(
            "resume-policy",
            ("spec", "resumePolicy"),
            f"invalid resume policy {policy!r}",
            did_you_mean(policy, RESUME_POLICIES),
        )
    ]
