"""Never more trials at once than the machine can bear: each trial's CPU and memory
requests (or limits) against this machine's cores and available memory."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from controller.core.reconcile import reconcile
from controller.core.trialspec import Demand, cpu_quantity, memory_quantity, trial_demand
from controller.executors.local.executor import LocalExecutor, Machine
from generator import SearchSpace, container, double, experiment, job, maximize, random_search
from generator.katib.defaults import with_defaults
from generator.katib.models import Experiment
from tests.conftest import ProjectFactory, run_in_dev

GiB = 2**30
TRAIN = "import time; time.sleep(0.4); print('accuracy=0.5')"


def sleepy(resources: dict | None, parallel: int = 4) -> Experiment:  # type: ignore[type-arg]
    space = SearchSpace(x=double(0.0, 1.0))
    return with_defaults(
        experiment(
            "sleepy",
            objective=maximize("accuracy"),
            algorithm=random_search(random_state=1),
            parameters=space,
            max_trial_count=6,
            parallel_trial_count=parallel,
            trial=job(
                container(
                    image="t:1",
                    command=["python", "-c", TRAIN],
                    args=space.cli_args(),
                    resources=resources,
                )
            ),
        )
    )


@pytest.mark.parametrize(
    ("text", "cores"),
    [("500m", 0.5), ("2", 2.0), (1, 1.0), ("0.25", 0.25), ("${trialParameters.cpu}", None),
     ("0", None), (None, None)],
)  # fmt: skip
def test_cpu_quantities(text: object, cores: float | None) -> None:
    assert cpu_quantity(text) == cores


@pytest.mark.parametrize(
    ("text", "size"),
    [("1Gi", GiB), ("512Mi", 512 * 2**20), ("512M", 512 * 10**6), ("1e3", 1000),
     ("1.5Gi", int(1.5 * GiB)), (2048, 2048), ("lots", None), ("", None)],
)  # fmt: skip
def test_memory_quantities(text: object, size: int | None) -> None:
    assert memory_quantity(text) == size


def test_the_machine_holds_what_fits_by_cores_and_memory() -> None:
    machine = Machine(cores=2, memory=8 * GiB)
    assert machine.capacity(Demand(1.0, 0)) == 2
    assert machine.capacity(Demand(0.5, 0)) == 4
    assert machine.capacity(Demand(4.0, 0)) == 1  # one always runs
    assert machine.capacity(Demand(0.25, 3 * GiB)) == 2  # memory binds
    assert Machine.this_one().cores >= 1 and Machine.this_one().memory > 0


def test_the_demand_is_the_primary_containers_requests_or_limits() -> None:
    limits = {"limits": {"cpu": "500m", "memory": "1Gi"}}
    assert trial_demand(sleepy(limits), {}) == Demand(0.5, GiB)
    both = {"requests": {"cpu": "250m"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    assert trial_demand(sleepy(both), {}) == Demand(0.25, 2 * GiB)
    assert trial_demand(sleepy(None), {}) == Demand(1.0, 0, cpu_named=False)
    assert Demand(1.0, 0, cpu_named=False).describe() == "1 core (it requests none)"
    assert Demand(0.5, GiB).describe() == "0.5 cores and 1 GiB"


def test_reconcile_starts_no_more_than_the_capacity() -> None:
    spec = sleepy(None).spec
    assert reconcile(spec, [], capacity=2).start == 2
    assert reconcile(spec, []).start == 4


def most_at_once(starts_and_ends: list[tuple[str, str]]) -> int:
    parse = lambda text: datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    events = sorted(
        [(parse(start), 1) for start, _ in starts_and_ends]
        + [(parse(end), -1) for _, end in starts_and_ends]
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


@pytest.mark.parametrize(("cpu", "expected"), [("1", 2), ("500m", 4)])
def test_a_run_keeps_to_what_the_machine_holds(
    make_project: ProjectFactory, tmp_path: Path, cpu: str, expected: int
) -> None:
    root = make_project()
    executor = LocalExecutor(root, tmp_path / "logs", machine=Machine(cores=2, memory=8 * GiB))
    record = run_in_dev(sleepy({"requests": {"cpu": cpu}}), root, executor)
    assert len(record.trials) == 6
    spans = [(t.start_time or "", t.completion_time or "") for t in record.trials]
    assert most_at_once(spans) == expected
