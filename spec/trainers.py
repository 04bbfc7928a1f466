"""The trainers this repository's experiments tune, as trial templates: the image they run
in and the commands that start them."""

from generator import container, job, trial_parameter

TRAINERS_IMAGE = "hpo-gen-trainers:0.1.0"
LIMITS = {"limits": {"cpu": "1", "memory": "1Gi"}}


def mnist_trial(*args: str, limits: bool = False):  # type: ignore[no-untyped-def]
    """A Job running `python -m trainers.mnist ARGS`."""
    return job(
        container(
            image=TRAINERS_IMAGE,
            command=["python", "-m", "trainers.mnist"],
            args=list(args),
            resources=LIMITS if limits else None,
        )
    )


def forest_trial(*args: str):  # type: ignore[no-untyped-def]
    """A Job running `python -m trainers.forest ARGS`."""
    return job(
        container(
            image=TRAINERS_IMAGE,
            command=["python", "-m", "trainers.forest"],
            args=list(args),
            resources=LIMITS,
        )
    )


def nas_trial(algorithm: str, *args: str):  # type: ignore[no-untyped-def]
    """A Job running `python -m trainers.nas ALGORITHM` with the assignments Katib's enas or
    darts gives each trial, then ARGS."""
    references = {
        "enas": {"architecture": "architecture", "nnConfig": "nn_config"},
        "darts": {
            "algorithmSettings": "algorithm-settings",
            "searchSpace": "search-space",
            "numLayers": "num-layers",
        },
    }[algorithm]
    flags = {"architecture": "--architecture", "nnConfig": "--nn_config"}
    assignment_args = [
        f"{flags.get(name, '--' + reference)}=${{trialParameters.{name}}}"
        for name, reference in references.items()
    ]
    template = job(
        container(
            image=TRAINERS_IMAGE,
            command=["python", "-m", "trainers.nas", algorithm],
            args=[*assignment_args, *args],
            resources=LIMITS,
        )
    )
    parameters = [trial_parameter(name, reference) for name, reference in references.items()]
    return template.model_copy(update={"trial_parameters": parameters})
