"""Trial-template rules: the source (inline or ConfigMap), the primary container, the
trial parameters and their `${trialParameters.*}` placeholders, and the template itself
once substituted (Katib's `validateTrialTemplate`, a batch/v1 Job checked strictly), plus
what Katib leaves to trial creation: every search-space parameter is referenced and the
primary container exists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from generator.files import yamlio
from generator.katib import gjson
from generator.katib.models import ExperimentSpec, TrialTemplate
from generator.katib.placeholders import META_INDEXED, PLACEHOLDER, is_meta_reference, placeholder
from generator.problems import FieldPath, Problem, did_you_mean
from generator.validation.context import Context
from generator.validation.schema import check_job

_TEMPLATE: FieldPath = ("spec", "trialTemplate")


def check(spec: ExperimentSpec, context: Context) -> list[Problem]:
    template = spec.trial_template
    if template is None:
        return [
            Problem(
                "trial-template",
                _TEMPLATE,
                "is required",
                "describe how a trial runs, e.g. trial=job(container(image=..., args=...))",
                yaml_hint="give spec.trialTemplate a trialSpec (a batch/v1 Job, say)",
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
    problems += _conditions(template)
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
    text, where = _template_text(template, context, problems)
    problems += _trial_parameters(spec, template, text)
    if text is not None and not any(p.code.startswith("trial-parameter") for p in problems):
        problems += _manifest(template, text, where, context)
    return problems


def _conditions(template: TrialTemplate) -> list[Problem]:
    """Each condition is GJSON that hpo-controller evaluates (the subset in
    `generator.katib.gjson`, which covers Katib's defaults and examples)."""
    problems = []
    for field, text in (
        ("successCondition", template.success_condition),
        ("failureCondition", template.failure_condition),
    ):
        if not text:
            continue
        try:
            gjson.parse(text)
        except gjson.ConditionError as err:
            problems.append(
                Problem(
                    "trial-template-condition",
                    (*_TEMPLATE, field),
                    f"is not GJSON hpo-controller evaluates: {err}",
                    "write it as Katib's examples do, e.g. "
                    'status.conditions.#(type=="Complete")#|#(status=="True")#',
                )
            )
    return problems


def _template_text(
    template: TrialTemplate, context: Context, problems: list[Problem]
) -> tuple[str | None, FieldPath]:
    """The template as Katib substitutes into it: the inline spec as JSON, or the text of
    the ConfigMap entry, which must be in the same overlay (or the files validated)."""
    if template.trial_spec is not None:
        return json.dumps(template.trial_spec, ensure_ascii=False), (*_TEMPLATE, "trialSpec")
    source = template.config_map
    where: FieldPath = (*_TEMPLATE, "configMap")
    if source is None:
        return None, where
    missing = [
        field
        for field, value in (
            ("configMapName", source.config_map_name),
            ("configMapNamespace", source.config_map_namespace),
            ("templatePath", source.template_path),
        )
        if not value
    ]
    for field in missing:
        problems.append(
            Problem(
                "trial-template-configmap",
                (*where, field),
                "is required",
                "name the ConfigMap, its namespace and the key that holds the template",
            )
        )
    if missing:
        return None, where
    data = context.config_map(source.config_map_namespace, source.config_map_name or "")
    if data is None:
        problems.append(
            Problem(
                "trial-template-configmap",
                (*where, "configMapName"),
                f"ConfigMap {source.config_map_namespace}/{source.config_map_name} is not "
                "among the manifests validated, so Katib would reject the Experiment",
                "render the ConfigMap in the same overlay, or validate its file alongside",
            )
        )
        return None, where
    text = data.get(source.template_path or "")
    if text is None:
        problems.append(
            Problem(
                "trial-template-configmap",
                (*where, "templatePath"),
                f"ConfigMap {source.config_map_name} has no key {source.template_path!r}",
                did_you_mean(source.template_path or "", data) if data else "add the key",
            )
        )
    return text, where


def _manifest(
    template: TrialTemplate, text: str, where: FieldPath, context: Context
) -> list[Problem]:
    manifest = template.trial_spec  # inline: values go into its strings, it stays parsed
    if manifest is None:  # a ConfigMap entry: Katib substitutes its text, then parses it
        try:
            manifest = yamlio.load(PLACEHOLDER.sub("test-value", text))
        except yamlio.YAMLError as err:
            return [
                Problem(
                    "trial-template-parse",
                    where,
                    f"does not parse once trial values are substituted: {err}".splitlines()[0],
                    "keep placeholders inside string values of the template",
                )
            ]
        if not isinstance(manifest, dict):
            return [Problem("trial-template-parse", where, "must be a mapping", "give a manifest")]
    problems: list[Problem] = []
    metadata = manifest.get("metadata") or {}
    for field in ("name", "namespace"):
        if isinstance(metadata, dict) and metadata.get(field):
            problems.append(
                Problem(
                    "trial-template-metadata",
                    (*where, "metadata", field),
                    "must be omitted: Katib names each trial's resource after the trial",
                    f"remove metadata.{field} from the template",
                )
            )
    for field, example in (("apiVersion", "batch/v1"), ("kind", "Job")):
        if not manifest.get(field):
            problems.append(
                Problem("trial-template-kind", (*where, field), "is required", f"set {field}")
            )
        elif not isinstance(manifest[field], str):
            problems.append(
                Problem(
                    "trial-template-kind",
                    (*where, field),
                    f"must be a string, not {type(manifest[field]).__name__}",
                    f"write one name, e.g. {field}: {example}",
                )
            )
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    if (api_version, kind) == ("batch/v1", "Job"):
        problems += check_job(manifest, where)
    if context.trial_resources is not None and kind:
        group, _, version = api_version.rpartition("/")
        resource = f"{kind}.{version}.{group}"
        if resource not in context.trial_resources:
            problems.append(
                Problem(
                    "trial-resource",
                    (*where, "kind"),
                    f"{context.source} does not let Katib watch {resource}, so its trials "
                    "would never finish",
                    "add it to the katib-config's init.controller.trialResources",
                )
            )
    problems += _primary_container(template, manifest, where)
    problems += _meta_keys(template, metadata if isinstance(metadata, dict) else {})
    return problems


def _meta_keys(template: TrialTemplate, metadata: dict[str, Any]) -> list[Problem]:
    """`${trialSpec.Labels[key]}` reads the template's own metadata; Katib fails to create
    every trial when the key is not there."""
    problems = []
    for index, trial_parameter in enumerate(template.trial_parameters or []):
        match = META_INDEXED.fullmatch(trial_parameter.reference)
        if match is None:
            continue
        field, key = match.group(1).lower(), match.group(2)
        present = metadata.get(field) or {}
        if not isinstance(present, dict) or key not in present:
            problems.append(
                Problem(
                    "trial-parameter-reference",
                    (*_TEMPLATE, "trialParameters", index, "reference"),
                    f"the trial template's metadata has no {field[:-1]} {key!r}, so Katib "
                    "cannot create trials",
                    f"add metadata.{field}.{key} to the trial template",
                )
            )
    return problems


def _primary_container(
    template: TrialTemplate, manifest: dict[str, Any], where: FieldPath
) -> list[Problem]:
    names = [c.get("name") for c in _containers(manifest) if isinstance(c, dict)]
    wanted = template.primary_container_name
    if not names or not wanted or wanted in names:
        return []
    return [
        Problem(
            "primary-container",
            (*_TEMPLATE, "primaryContainerName"),
            f"no container of the template is named {wanted!r}",
            did_you_mean(wanted, [str(n) for n in names]),
        )
    ]


def _containers(node: Any) -> Iterator[Any]:
    """Every entry of every `containers` list anywhere in a manifest."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "containers" and isinstance(value, list):
                yield from value
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _source(template: TrialTemplate) -> list[Problem]:
    if template.trial_spec is None and template.config_map is None:
        return [
            Problem(
                "trial-template",
                _TEMPLATE,
                "one of trialSpec and configMap must be specified",
                "give the trial an inline spec, e.g. job(container(...))",
                yaml_hint="give spec.trialTemplate a trialSpec",
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


def _trial_parameters(
    spec: ExperimentSpec, template: TrialTemplate, text: str | None
) -> list[Problem]:
    problems: list[Problem] = []
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
                    yaml_hint=f"use {placeholder(name)} in the container's command, args or env",
                )
            )
    if text is not None:
        for unknown in sorted(set(PLACEHOLDER.findall(text)) - set(names)):
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
