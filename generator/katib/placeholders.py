"""Katib's placeholders, the one home of their syntax: `${trialParameters.NAME}` in a
trial template, replaced by the trial's value of NAME, and the meta references a trial
parameter may take its value from instead of the search space (`${trialSpec.Name}`,
`${trialSpec.Labels[key]}`, ...)."""

from __future__ import annotations

import re
from collections.abc import Mapping

# A trial parameter's placeholder in a template; group 1: its name.
PLACEHOLDER = re.compile(r"\$\{trialParameters\.(.+?)\}")

# Meta references: trial parameters whose value is a fact of the trial, not a search value.
TRIAL_NAME = "${trialSpec.Name}"
TRIAL_NAMESPACE = "${trialSpec.Namespace}"
TRIAL_KIND = "${trialSpec.Kind}"
TRIAL_API_VERSION = "${trialSpec.APIVersion}"
META_REFERENCE = re.compile(r"\$\{trialSpec\.(Name|Namespace|Kind|APIVersion)\}")
META_INDEXED = re.compile(r"\$\{trialSpec\.(Annotations|Labels)\[(.+)\]\}")


def placeholder(trial_parameter: str) -> str:
    """The text Katib replaces with a trial's value of `trial_parameter`."""
    return "${trialParameters." + trial_parameter + "}"


def trial_label(key: str) -> str:
    """A reference to a label of the trial template's own metadata."""
    return "${trialSpec.Labels[" + key + "]}"


def trial_annotation(key: str) -> str:
    """A reference to an annotation of the trial template's own metadata."""
    return "${trialSpec.Annotations[" + key + "]}"


def is_meta_reference(reference: str) -> bool:
    """`${trialSpec.Name}`, `${trialSpec.Labels[key]}` and the like."""
    return bool(META_REFERENCE.fullmatch(reference) or META_INDEXED.fullmatch(reference))


def meta_values(
    name: str,
    namespace: str,
    kind: str,
    api_version: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> dict[str, str]:
    """Each meta reference of a trial -> its value."""
    values = {
        TRIAL_NAME: name,
        TRIAL_NAMESPACE: namespace,
        TRIAL_KIND: kind,
        TRIAL_API_VERSION: api_version,
    }
    for key, value in labels.items():
        values[trial_label(key)] = value
    for key, value in annotations.items():
        values[trial_annotation(key)] = value
    return values
