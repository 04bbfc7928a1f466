"""The trainers this repository's experiments tune, as trial templates: the image they run
in and the commands that start them."""

from generator import container, job

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
