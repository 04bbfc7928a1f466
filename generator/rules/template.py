"""Trial-template rules: the primary container, the trial parameters and their
`${trialParameters.*}` placeholders (Katib's `validateTrialTemplate`), plus the reverse
check Katib leaves to trial creation: every search-space parameter is referenced."""

from __future__ import annotations

import json
import re

from generator.models import ExperimentSpec, TrialTemplate
from generator.problems import FieldPath, Problem, did_you_mean
from generator.space import placeholder

_PLACEHOLDER = re.compile(r"\$\{trialParameters\.(.+?)\}")
_META_REFERENCE = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion)\}$")
_META_INDEXED = re.compile(r"^\$\{trialSpec\.(Annotations|Labels)\[(.+)\]\}$")
_TEMPLATE: FieldPath = ("spec", "trialTemplate")


def is_meta_reference(reference: str) -> bool:
    """`${trialSpec.Name}`, `${trialSpec.Labels[key]}` and the like."""
    return bool(_META_REFERENCE.match(reference) or _META_INDEXED.match(reference))


def check(spec: ExperimentSpec) -> list[Problem]:
    template = spec.trial_template
    if template is None:
        return [
            Problem(
                "trial-template",
                _TEMPLATE,
                "is required",
                "describe how a trial runs, e.g. trial=job(container(image=..., args=...))",
            )
        ]
    problems = _source(template)
    if not template.primary_container_name:
        problems.append(
            Problem(
                "trial-template",
                (*_TEMPLATE, "primaryContainerName"),
                "is required",
                "name the container that runs the training code",
            )
        )
    if not template.success_condition or not template.failure_condition:
        problems.append(
            Problem(
                "trial-template",
                _TEMPLATE,
                "successCondition and failureCondition must be specified for this trial kind",
                "give both GJSON conditions; Katib fills them in only for Job and "
                "Kubeflow training jobs written inline",
            )
        )
    if template.trial_parameters is None:
        problems.append(
            Problem(
                "trial-parameters",
                (*_TEMPLATE, "trialParameters"),
                "is required",
                "list the trial parameters (an empty list is allowed)",
            )
        )
        return problems
    problems += _trial_parameters(spec, template)
    return problems


def _source(template: TrialTemplate) -> list[Problem]:
    if template.trial_spec is None and template.config_map is None:
        return [
            Problem(
                "trial-template",
                _TEMPLATE,
                "one of trialSpec and configMap must be specified",
                "give the trial an inline spec, e.g. job(container(...))",
            )
        ]
    if template.trial_spec is not None and template.config_map is not None:
        return [
            Problem(
                "trial-template",
                _TEMPLATE,
                "only one of trialSpec and configMap can be specified",
                "remove either the inline trialSpec or the configMap reference",
            )
        ]
    return []


def _trial_parameters(spec: ExperimentSpec, template: TrialTemplate) -> list[Problem]:
    problems: list[Problem] = []
    text = json.dumps(template.trial_spec, ensure_ascii=False) if template.trial_spec else None
    parameter_names = [p.name for p in spec.parameters or []]
    names: dict[str, int] = {}
    references: dict[str, int] = {}
    for index, trial_parameter in enumerate(template.trial_parameters or []):
        path: FieldPath = (*_TEMPLATE, "trialParameters", index)
        name, reference = trial_parameter.name, trial_parameter.reference
        if not name or not reference or "{" in name or "}" in name:
            problems.append(
                Problem(
                    "trial-parameter",
                    path,
                    f"needs a name without braces and a reference, got name={name!r}, "
                    f"reference={reference!r}",
                    "name the trial parameter and point it at a search-space parameter",
                )
            )
            continue
        if name in names:
            problems.append(
                Problem(
                    "trial-parameter",
                    (*path, "name"),
                    f"duplicate trial parameter name {name!r}",
                    "give every trial parameter its own name",
                )
            )
        if reference in references:
            problems.append(
                Problem(
                    "trial-parameter",
                    (*path, "reference"),
                    f"duplicate reference {reference!r}",
                    "reference every search-space parameter from one trial parameter",
                )
            )
        names.setdefault(name, index)
        references.setdefault(reference, index)
        if (
            parameter_names
            and not is_meta_reference(reference)
            and (reference not in parameter_names)
        ):
            problems.append(
                Problem(
                    "trial-parameter-reference",
                    (*path, "reference"),
                    f"references {reference!r}, which is not a search-space parameter",
                    did_you_mean(reference, parameter_names),
                )
            )
        if text is not None and placeholder(name) not in text:
            problems.append(
                Problem(
                    "trial-parameter-unused",
                    (*path, "name"),
                    f"the trial template never uses {placeholder(name)}, so every trial "
                    f"would run with the same {name!r}",
                    f"pass it to the container, e.g. args=[f'--{name.replace('_', '-')}="
                    f"{{space.{name}}}'] or args=space.cli_args()",
                )
            )
    if text is not None:
        for unknown in sorted(set(_PLACEHOLDER.findall(text)) - set(names)):
            problems.append(
                Problem(
                    "trial-parameter-undefined",
                    (*_TEMPLATE, "trialSpec"),
                    f"uses {placeholder(unknown)}, which is not a trial parameter",
                    did_you_mean(unknown, names) if names else "define the trial parameter",
                )
            )
    for index, name in enumerate(parameter_names):
        if name not in references:
            problems.append(
                Problem(
                    "parameter-unreferenced",
                    ("spec", "parameters", index, "name"),
                    f"no trial parameter references {name!r}, so Katib cannot create trials",
                    "reference it from a trial parameter and use that in the template",
                )
            )
    return problems
