"""medianstop: Katib's rule (a mean of per-trial early averages, named a median) and
trials stopped while they run, ending EarlyStopped with the metrics they reported."""

from __future__ import annotations

import pytest

from controller.earlystopping.medianstop import MedianStop
from generator.files import yamlio
from tests.conftest import ProjectFactory, render_and_commit, run_cli


def test_the_threshold_is_the_mean_of_early_averages() -> None:
    rule = MedianStop(min_trials_required=3, start_step=2)
    history = [[0.2, 0.4, 0.9], [0.6, 0.8], [0.1, 0.1, 0.1, 0.1]]
    # early averages 0.3, 0.7, 0.1: their mean (0.3667), not their median (0.3)
    assert rule.threshold(history) == pytest.approx((0.3 + 0.7 + 0.1) / 3)
    assert rule.threshold(history[:2]) is None


@pytest.mark.parametrize(
    "series,maximize,stop",
    [
        ([0.1], True, False),  # before start_step: never
        ([0.1, 0.2], True, True),  # best so far 0.2 < 0.5
        ([0.1, 0.6], True, False),  # best so far 0.6 >= 0.5
        ([0.9, 0.8], False, True),  # minimizing: best 0.8 > 0.5
        ([0.9, 0.4], False, False),
        ([float("nan"), float("nan")], True, False),
    ],
)
def test_a_trial_stops_when_its_best_so_far_is_worse(
    series: list[float], maximize: bool, stop: bool
) -> None:
    assert MedianStop(1, 2).should_stop(series, 0.5, maximize) is stop
    assert MedianStop(1, 2).should_stop(series, None, maximize) is False


TRAIN = """\
import sys, time

args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
q = float(args["q"])
for epoch in range(1, 7):
    print(f"epoch={epoch} accuracy={q:.4f}", flush=True)
    time.sleep(0.15)
"""

SPEC = """\
from generator import SearchSpace, container, double, experiment, job, maximize, median_stop
from generator import random_search

space = SearchSpace(q=double(0.0, 1.0))
stopping = experiment(
    "stopping",
    objective=maximize("accuracy"),
    algorithm=random_search(random_state=4),
    early_stopping=median_stop(min_trials_required=2, start_step=2),
    parameters=space,
    max_trial_count=8,
    parallel_trial_count=2,
    trial=job(container(image="t:1", command=["python", "train.py"], args=space.cli_args())),
)
"""


def test_weak_trials_are_stopped_while_they_run(make_project: ProjectFactory) -> None:
    root = make_project({"spec/stopping.py": SPEC, "train.py": TRAIN})
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert result.returncode == 0, result.stderr
    document = yamlio.load((root / "status/dev/stopping.yaml").read_text())
    status, trials = document["status"], document["trials"]
    assert status["trials"] == 8
    assert status["conditions"][-1]["reason"] == "ExperimentMaxTrialsReached"
    stopped = [t for t in trials if t["state"] == "EarlyStopped"]
    succeeded = [t for t in trials if t["state"] == "Succeeded"]
    assert stopped, "no trial was stopped early"
    assert status["trialsEarlyStopped"] == len(stopped)
    best_finished = max(float(t["parameterAssignments"][0]["value"]) for t in succeeded)
    for trial in stopped:
        assert trial["reason"] == "TrialEarlyStopped"
        [accuracy] = trial["metrics"]
        assert 2 <= len(accuracy["values"]) < 6  # stopped after start_step, before the end
        assert float(trial["parameterAssignments"][0]["value"]) < best_finished
