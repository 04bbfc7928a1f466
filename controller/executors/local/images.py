"""The one image a local trial stands in for: the bundled trainers image. Its working
directory holds Katib's NAS trial-image entry scripts (`RunTrial.py`, `run_trial.py`), so a
trial whose primary container runs that image and names no working directory runs in the
installed trainers' `katib` folder, as the container would run in the image's. Every other
image runs its command in the project's directory, as before."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# The trainers image's names: as the specs write it, and as released.
TRAINERS_IMAGES = ("hpo-gen-trainers", "ghcr.io/hpo-gen/trainers")


def image_name(image: str) -> str:
    """An image reference without its tag or digest."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def image_workdir(image: str | None) -> Path | None:
    """Where a trial of `image` runs when its container names no working directory; None
    for an image that is not the trainers image (or trainers that are not installed)."""
    if image is None or image_name(image) not in TRAINERS_IMAGES:
        return None
    spec = importlib.util.find_spec("trainers")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "katib"
    return folder if folder.is_dir() else None
