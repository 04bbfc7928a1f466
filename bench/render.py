"""Render speed: `hpo-gen render` of 1,000 experiments in 3 environments (a local one, a
Katib one with budgets, a cluster one with images, resources and labels), validation
included, against the floor measured in the same run on the same output: PyYAML's C
`CSafeDumper` writing the same final documents.

    python bench/render.py [--experiments 1000] [--rounds 3] [--profile]

The command runs as a user runs it: a fresh process in a generated repository, timed from
start to exit (interpreter start, imports, loading spec/, validation, rendering, writing
overlays/). The floor dumps every document of the tree it wrote, read back, in-process,
to memory. The figure is the median over the rounds of command time / floor time.

The repository lies on a memory file system (/dev/shm) where there is one, as the floor
writes to memory: what the command adds is then its own work. The same command on the
working disk (the system's temporary folder) is measured beside it, with what creating
the same folders and files costs there, since on some disks that alone exceeds the floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGET = 4.0

ENVIRONMENTS = """\
from generator import budget, environment, gitops, image, resources

repository = gitops("https://github.com/example/hpo.git")
dev = environment("dev", namespace="hpo-dev", experiments="*")
staging = environment(
    "staging", namespace="hpo-staging", experiments="*", executor="katib",
    budget=budget(max_trial_count=4, parallel_trial_count=2),
)
prod = environment(
    "prod", namespace="hpo", experiments="*", executor="cluster",
    images=[image("trainers", new_name="ghcr.io/example/trainers", tag="1.0")],
    resources=resources(requests={"cpu": "1"}, limits={"memory": "2Gi"}),
    labels={"team": "ml"},
)
"""

MANY = """\
from generator import (
    SearchSpace, categorical, container, double, experiment, integer, job, maximize,
    random_search, tpe, grid,
)

ALGORITHMS = [random_search, tpe]


def build(index):
    space = SearchSpace(
        lr=double(0.001, 0.1),
        layers=integer(1, 8),
        optimizer=categorical(["sgd", "adam", "rmsprop"]),
    )
    return experiment(
        f"exp-{{index:04d}}",
        objective=maximize("accuracy", goal=0.99, additional_metrics=["loss"]),
        algorithm=ALGORITHMS[index % 2](),
        parameters=space,
        max_trial_count=12,
        parallel_trial_count=3,
        max_failed_trial_count=3,
        trial=job(
            container(
                image="trainers:0.1",
                command=["python", "-m", "trainers.mnist"],
                args=[*space.cli_args(), f"--seed={{index}}"],
            )
        ),
    )


experiments = [build(i) for i in range({count})]
"""


def project(at: Path, count: int) -> Path:
    spec = at / "spec"
    spec.mkdir(parents=True)
    (spec / "__init__.py").write_text("")
    (spec / "environments.py").write_text(ENVIRONMENTS)
    (spec / "many.py").write_text(MANY.format(count=count))
    return at


def command(root: Path, profile: bool) -> float:
    shutil.rmtree(root / "overlays", ignore_errors=True)
    program = [str(Path(sys.executable).parent / "hpo-gen"), "render"]
    if profile:
        program = [sys.executable, "-m", "cProfile", "-s", "cumtime", *program]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    start = time.perf_counter()
    result = subprocess.run(program, cwd=root, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"hpo-gen render failed:\n{result.stderr}")
    if profile:
        print("\n".join(result.stdout.splitlines()[:60]))
    return took


def floor(root: Path) -> tuple[float, int, int]:
    """PyYAML's C dumper writing every document of the rendered tree."""
    documents = []
    for path in sorted((root / "overlays").rglob("*.yaml")):
        documents += [d for d in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if d]
    start = time.perf_counter()
    for document in documents:
        yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)
    files = sum(1 for _ in (root / "overlays").rglob("*.yaml"))
    return time.perf_counter() - start, len(documents), files


def file_system(root: Path) -> tuple[float, int]:
    """What creating the rendered tree's folders and files costs on this file system,
    apart from everything else: the same paths, written with their text, in a fresh folder."""
    tree = {
        p.relative_to(root / "overlays"): p.read_text() for p in (root / "overlays").rglob("*.yaml")
    }
    with tempfile.TemporaryDirectory(prefix="bench-render-fs-") as scratch:
        start = time.perf_counter()
        folders = sorted({Path(scratch, name).parent for name in tree})
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for name, text in tree.items():
            Path(scratch, name).write_text(text)
        return time.perf_counter() - start, len(folders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the command's profile")
    args = parser.parse_args()
    memory = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with (
        tempfile.TemporaryDirectory(prefix="bench-render-", dir=memory) as scratch,
        tempfile.TemporaryDirectory(prefix="bench-render-disk-") as on_disk,
    ):
        root = project(Path(scratch), args.experiments)
        disk_root = project(Path(on_disk), args.experiments)
        ratios, commands, floors, disk, writes = [], [], [], [], []
        for _ in range(args.rounds):
            took = command(root, args.profile)
            spent, documents, files = floor(root)
            disk.append(command(disk_root, False))
            written, folders = file_system(disk_root)
            commands.append(took)
            floors.append(spent)
            writes.append(written)
            ratios.append(took / spent)
    ratio = median(ratios)
    where = "a memory file system" if memory else "the working disk"
    print(
        f"hpo-gen render, {args.experiments} experiments x 3 environments "
        f"({files} files in {folders} folders, {documents} documents), on {where}: "
        f"{median(commands):.2f} s; PyYAML CSafeDumper floor: {median(floors):.2f} s; "
        f"ratio {ratio:.2f}x (target <= {TARGET:g}x) {'MET' if ratio <= TARGET else 'NOT MET'}"
    )
    print(
        f"on the working disk: {median(disk):.2f} s, of which creating the folders and "
        f"files alone takes {median(writes):.2f} s there"
    )


if __name__ == "__main__":
    main()
