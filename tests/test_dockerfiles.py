"""The two images, kept correct without a Docker engine: each Dockerfile is parsed into
its instructions and checked for what a build and a pod depend on: a pinned base image,
sources that exist, a non-root numeric user set after the last RUN, no bytecode written
(read-only root filesystem), and a default command that is installed in the image."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).parent.parent
DOCKERFILES = {"controller": REPO_ROOT / "controller/Dockerfile",
               "trainers": REPO_ROOT / "trainers/Dockerfile"}  # fmt: skip


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, pending = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            keyword, _, rest = whole.partition(" ")
            logical.append((keyword.upper(), rest.strip()))
    return logical


def exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"{arguments} is not the exec form"
    return [str(a) for a in parsed]


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_base_image_is_pinned_to_a_patch_release(image: str) -> None:
    (base,) = [args for keyword, args in instructions(DOCKERFILES[image]) if keyword == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_what_it_copies_exists(image: str) -> None:
    for keyword, args in instructions(DOCKERFILES[image]):
        if keyword == "COPY":
            *sources, _ = args.split()
            for source in sources:
                assert (REPO_ROOT / source).exists(), (
                    f"{image}: COPY {source}: not in the repository"
                )


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_it_runs_as_a_numeric_non_root_user_with_no_bytecode_written(image: str) -> None:
    steps = instructions(DOCKERFILES[image])
    users = [i for i, (keyword, _) in enumerate(steps) if keyword == "USER"]
    runs = [i for i, (keyword, _) in enumerate(steps) if keyword == "RUN"]
    assert users and users[-1] > runs[-1]
    user = steps[users[-1]][1]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), user  # kubelet checks runAsNonRoot on it
    uid = user.split(":")[0]
    assert any(f"--uid {uid}" in args for keyword, args in steps if keyword == "RUN")
    environment = " ".join(args for keyword, args in steps if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in environment


def test_the_controller_image_serves_by_default_with_what_it_installs() -> None:
    steps = dict(instructions(DOCKERFILES["controller"]))
    entry, command = exec_form(steps["ENTRYPOINT"]), exec_form(steps["CMD"])
    assert entry == ["hpo-controller"] and command == ["serve"]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "hpo-controller" in project["project"]["scripts"]
    installs = " ".join(
        args for keyword, args in instructions(DOCKERFILES["controller"]) if keyword == "RUN"
    )
    assert "'.[controller,nas]'" in installs
    (torch,) = project["project"]["optional-dependencies"]["nas"]  # enas's policy, on CPU
    assert f"--index-url https://download.pytorch.org/whl/cpu {torch}" in installs
    extras = " ".join(project["project"]["optional-dependencies"]["controller"])
    assert "kubernetes" in extras and "prometheus-client" in extras
    for needed in ("git", "openssh-client", "ca-certificates"):  # push over HTTPS or SSH
        assert re.search(rf"\b{needed}\b", installs)
    assert "HOME=/work" in steps["ENV"]  # the only writable place


def test_the_trainers_image_has_cpu_torch_at_the_projects_pin() -> None:
    steps = instructions(DOCKERFILES["trainers"])
    installs = " ".join(args for keyword, args in steps if keyword == "RUN")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    (pin,) = [
        d for d in project["project"]["optional-dependencies"]["trainers"] if d.startswith("torch")
    ]
    assert pin.replace(" ", "") in installs
    assert "download.pytorch.org/whl/cpu" in installs
    command = exec_form(dict(steps)["CMD"])
    assert command[:2] == ["python", "-m"]
    module = command[2]
    assert (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file()
    # Katib's NAS examples start their entry scripts from the image's working directory.
    workdir = [args for keyword, args in steps if keyword == "WORKDIR"][-1]
    assert workdir.startswith("/opt/hpo-gen/")
    folder = REPO_ROOT / workdir.removeprefix("/opt/hpo-gen/")
    assert (folder / "RunTrial.py").is_file() and (folder / "run_trial.py").is_file()
