"""Validation of a spec set, in Katib's admission order: defaults first, then the rules,
then the strict schema of the rendered manifest; and the checks on environments."""

from __future__ import annotations

import re

from generator.katib.defaults import with_defaults
from generator.katib.models import Experiment
from generator.katib.repository import BASE_FOLDER, NOT_ENVIRONMENTS, TEMPLATES_FOLDER
from generator.language.environments import LOCAL_TRIAL_KINDS, Environment
from generator.problems import Problem, ProblemReport, did_you_mean
from generator.specset import SpecSet
from generator.validation.context import Context
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
    names = [e.name for e in specs.experiments]
    # (an experiment an environment names may be in a module that failed to load)
    known = None if specs.problems else names
    for env in specs.environments:
        problems += place(_check_environment(env, known), env, None)
        problems += _local_kinds(env, specs.experiments)
    if not specs.environments and not specs.problems:
        problems.append(
            Problem(
                "environment",
                (),
                "the spec folder defines no environment",
                "declare one, e.g. dev = environment('dev', namespace='hpo-dev')",
            )
        )
    if problems:
        raise ProblemReport(problems, list(specs.tracebacks))
    return SpecSet(
        defaulted, list(specs.environments), dict(specs.modules), list(specs.trial_templates)
    )


def _local_kinds(env: Environment, experiments: list[Experiment]) -> list[Problem]:
    """Experiments of a local environment whose trials cannot run on one machine: said
    before anything runs, where the trial's kind is known (an inline template)."""
    if env.executor != "local":
        return []
    problems = []
    for experiment in experiments:
        if env.experiments is not None and experiment.name not in env.experiments:
            continue
        template = experiment.spec.trial_template
        kind = (template.trial_spec or {}).get("kind") if template is not None else None
        # A kind that is not a string is the template rule's problem, said there.
        if not isinstance(kind, str) or kind in LOCAL_TRIAL_KINDS:
            continue
        problems += place(
            [
                Problem(
                    "local-trial-kind",
                    ("spec", "trialTemplate", "trialSpec", "kind"),
                    f"environment {env.name!r} runs trials on this machine, where hpo-controller "
                    f"runs {' and '.join(sorted(LOCAL_TRIAL_KINDS))} trials; this one is a "
                    f"{kind}",
                    f"run it in an environment with executor='kubernetes', or leave it out of "
                    f"{env.name!r} with environment(..., experiments=[...])",
                )
            ],
            experiment,
            experiment.name,
        )
    return problems


def _check_environment(env: Environment, experiments: list[str] | None) -> list[Problem]:
    """The environment's own problems; the experiments it names are checked against
    `experiments` (None: not known in full)."""
    problems = []
    where = f"environment {env.name!r}: "
    if not _DNS1123_LABEL.fullmatch(env.name) or env.name in NOT_ENVIRONMENTS:
        problems.append(
            Problem(
                "environment",
                ("name",),
                f"{where}the name must be a DNS-1123 label other than {BASE_FOLDER!r} "
                f"and {TEMPLATES_FOLDER!r}",
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
    for index, name in enumerate(env.experiments or ()):
        if experiments is not None and name not in experiments:
            problems.append(
                Problem(
                    "environment",
                    ("experiments", index),
                    f"{where}no experiment is named {name!r}",
                    did_you_mean(name, experiments) if experiments else "define it in spec/",
                )
            )
    return problems
