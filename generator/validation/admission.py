"""Validation of a spec set, in Katib's admission order: defaults first, then the rules,
then the strict schema of the rendered manifest; and the checks on environments."""

from __future__ import annotations

import re

from generator.katib.defaults import with_defaults
from generator.katib.models import Experiment
from generator.problems import Problem, ProblemReport
from generator.specset import SpecSet
from generator.validation.context import Context
from generator.validation.environments import check_environments
from generator.validation.locating import place
from generator.validation.rules import check_experiment
from generator.validation.schema import check_manifest

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def validate_experiment(
    experiment: Experiment, context: Context | None = None
) -> tuple[Experiment, list[Problem]]:
    """The Experiment with Katib's defaults, and every problem it has."""
    defaulted = with_defaults(experiment)
    problems = check_experiment(defaulted, context)
    schema_problems = check_manifest(defaulted.to_wire(), defaulted.name)
    return defaulted, problems + place(schema_problems, defaulted, defaulted.name)


def validate_specs(specs: SpecSet, context: Context | None = None) -> SpecSet:
    """The spec set with every Experiment defaulted; raises ProblemReport on any problem,
    the modules that could not be loaded among them."""
    problems: list[Problem] = list(specs.problems)
    defaulted = []
    # The overlay renders these ConfigMaps in each environment's own namespace.
    context = (context or Context()).with_documents(t.manifest() for t in specs.trial_templates)
    for experiment in specs.experiments:
        checked, found = validate_experiment(experiment, context)
        defaulted.append(checked)
        problems += found
    # (an experiment an environment names may be in a module that failed to load)
    problems += check_environments(
        specs.environments, defaulted, specs.gitops, complete=not specs.problems
    )
    if not specs.environments and not specs.problems:
        problems.append(
            Problem(
                "environment",
                (),
                "the spec folder defines no environment",
                "declare one, e.g. dev = environment('dev', namespace='hpo-dev', experiments='*')",
            )
        )
    if problems:
        raise ProblemReport(problems, list(specs.tracebacks))
    return SpecSet(
        defaulted,
        list(specs.environments),
        dict(specs.modules),
        list(specs.trial_templates),
        gitops=specs.gitops,
    )
