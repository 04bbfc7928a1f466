"""A trial's command line: substituting the primary container alone gives the command that
substituting the whole template gives, whatever the template holds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.trialspec import Command, _command, _primary, trial_command, trial_manifest
from controller.errors import ControllerError
from generator.katib.models import (
    Experiment,
    ExperimentSpec,
    ObjectMeta,
    TrialParameterSpec,
    TrialTemplate,
)

NAMES = ["lr", "opt", "name"]
# Strings of a template: plain, or holding trial-parameter placeholders.
pieces = st.sampled_from(["--lr=", "${trialParameters.lr}", "${trialParameters.opt}", "x", " "])
strings = st.lists(pieces, max_size=4).map("".join)
container_names = st.sampled_from(["training", "sidecar", "${trialParameters.name}", "other"])
containers = st.fixed_dictionaries(
    {"name": container_names},
    optional={
        "command": st.lists(strings, max_size=3),
        "args": st.lists(strings, max_size=3),
        "env": st.lists(st.fixed_dictionaries({"name": strings, "value": strings}), max_size=2),
        "workingDir": strings,
        "image": strings,
    },
)
deadlines = st.one_of(st.integers(-5, 100), st.just("${trialParameters.lr}"), st.floats(0, 9))
specs = st.builds(
    lambda listed, deadline, labels: {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"labels": {"app": labels}},
        "spec": {
            **({} if deadline is None else {"activeDeadlineSeconds": deadline}),
            "template": {"spec": {"containers": listed, "restartPolicy": "Never"}},
        },
    },
    st.lists(containers, min_size=1, max_size=3),
    st.none() | deadlines,
    strings,
)
values = st.fixed_dictionaries(
    {
        name: st.sampled_from(["0.1", "training", "", "a b", "${trialParameters.opt}"])
        for name in NAMES
    }
)


def experiment_with(spec: dict[str, Any]) -> Experiment:
    template = TrialTemplate(
        primary_container_name="training",
        trial_parameters=[TrialParameterSpec(name=n, reference=n) for n in NAMES],
        trial_spec=spec,
    )
    return Experiment(
        metadata=ObjectMeta(name="e", namespace="ns"),
        spec=ExperimentSpec(trial_template=template),
    )


def whole(experiment: Experiment, values: dict[str, str]) -> Command:
    manifest = trial_manifest(experiment, values, {})
    return _command(experiment, _primary(experiment, manifest), manifest)


@settings(max_examples=400)
@given(specs, values)
def test_the_primary_container_alone_gives_the_whole_templates_command(
    spec: dict[str, Any], values: dict[str, str]
) -> None:
    experiment = experiment_with(spec)
    try:
        expected: Command | str = whole(experiment, values)
    except ControllerError as err:
        expected = str(err)
    try:
        got: Command | str = trial_command(experiment, values, {})
    except ControllerError as err:
        got = str(err)
    assert got == expected


def test_a_container_without_a_command_is_named() -> None:
    spec = {"spec": {"template": {"spec": {"containers": [{"name": "training"}]}}}}
    with pytest.raises(ControllerError, match="container 'training' has no command"):
        trial_command(experiment_with(spec), dict.fromkeys(NAMES, "1"), {})
