"""Hyperband with Katib's schedule: bracket sizes, budgets on the resource parameter,
promotion of each rung's best, waiting for a rung, the end of the schedule, and a rebuild
from records that replays the same schedule."""

from __future__ import annotations

import math

from controller.algorithms.base import Assignments
from controller.algorithms.hyperband import HyperbandSuggester
from generator import SearchSpace, categorical, double, integer
from tests.conftest import ProjectFactory, render_and_commit, run_cli

SPACE = SearchSpace(
    lr=double(0.01, 0.1), optimizer=categorical(["sgd", "adam"]), epochs=integer(1, 1)
).parameters()
SETTINGS = {"r_l": "9", "eta": "3", "resource_name": "epochs"}


def score(assignments: Assignments) -> float:
    values = dict(assignments)
    return float(values["lr"]) * int(values["epochs"])  # maximize: more lr, more epochs


def drive(suggester: HyperbandSuggester) -> list[list[Assignments]]:
    """Run the whole schedule a rung at a time; the rungs, as suggested."""
    rungs = []
    while True:
        rung = suggester.suggest(100)
        if not rung:
            assert suggester.exhausted
            return rungs
        for assignments in rung:
            suggester.observe(assignments, score(assignments))
        rungs.append(rung)


def test_the_schedule_follows_katib() -> None:
    rungs = drive(HyperbandSuggester(SPACE, SETTINGS, "maximize", seed=1))
    # s_max = 2: bracket 2 runs 9 at 1 epoch, 3 at 3, 1 at 9; bracket 1 draws
    # ceil(3 / 2 * 3) = 5 at 3, 1 at 9; bracket 0: ceil(3 / 1 * 1) = 3 at 9
    assert [len(r) for r in rungs] == [9, 3, 1, 5, 1, 3]
    epochs = [{dict(a)["epochs"] for a in rung} for rung in rungs]
    assert epochs == [{"1"}, {"3"}, {"9"}, {"3"}, {"9"}, {"9"}]
    first, promoted = rungs[0], rungs[1]
    best = sorted(first, key=score, reverse=True)[:3]
    strip = lambda a: tuple(p for p in a if p[0] != "epochs")  # noqa: E731
    assert {strip(a) for a in promoted} == {strip(a) for a in best}
    everything = [a for rung in rungs for a in rung]
    assert len(set(everything)) == len(everything) == 22


def test_a_rung_waits_for_all_its_results() -> None:
    suggester = HyperbandSuggester(SPACE, SETTINGS, "maximize", seed=1)
    first = suggester.suggest(100)
    for assignments in first[:-1]:
        suggester.observe(assignments, score(assignments))
    assert suggester.suggest(5) == [] and not suggester.exhausted
    suggester.observe(first[-1], None)  # a failed trial ranks last
    assert len(suggester.suggest(5)) == 3


def test_a_rebuilt_hyperband_replays_the_same_schedule() -> None:
    whole = drive(HyperbandSuggester(SPACE, SETTINGS, "maximize", seed=4))
    done = [a for rung in whole[:2] for a in rung]
    rebuilt = HyperbandSuggester(SPACE, SETTINGS, "maximize", seed=4)
    rebuilt.restore([(a, score(a)) for a in done])
    assert drive(rebuilt) == whole[2:]


def test_eta_and_r_l_set_the_brackets() -> None:
    settings = {"r_l": "8", "eta": "2", "resource_name": "epochs"}
    rungs = drive(HyperbandSuggester(SPACE, settings, "minimize", seed=2))
    s_max = int(math.log(8) / math.log(2))
    assert s_max == 3 and [len(r) for r in rungs][:4] == [8, 4, 2, 1]


TRAIN = """\
import sys

args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
print(f"accuracy={float(args['lr']) * int(args['epochs']):.6f}")
"""

SPEC = """\
from generator import SearchSpace, container, double, experiment, hyperband, integer, job
from generator import maximize

space = SearchSpace(lr=double(0.01, 0.1), epochs=integer(1, 1))
banded = experiment(
    "banded",
    objective=maximize("accuracy"),
    algorithm=hyperband(resource_name="epochs", r_l=9, eta=3),
    parameters=space,
    parallel_trial_count=9,
    trial=job(container(image="t:1", command=["python", "train.py"], args=space.cli_args())),
)
"""


def test_a_hyperband_experiment_ends_with_its_schedule(make_project: ProjectFactory) -> None:
    from generator.files import yamlio

    root = make_project({"spec/banded.py": SPEC, "train.py": TRAIN})
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert result.returncode == 0, result.stderr
    document = yamlio.load((root / "status/dev/banded.yaml").read_text())
    assert document["status"]["conditions"][-1]["reason"] == "ExperimentSuggestionEndReached"
    assert document["status"]["trials"] == 22
