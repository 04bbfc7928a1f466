"""medianstop: the median stopping rule as Katib documents it (the median of the succeeded
trials' running averages at the same step) and trials stopped while they run, ending
EarlyStopped with the metrics they reported and the step they were stopped at."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.earlystopping.medianstop import MedianStop
from generator.files import yamlio
from tests.conftest import ProjectFactory, render_and_commit, run_cli


def test_the_threshold_is_the_median_of_running_averages_at_the_same_step() -> None:
    rule = MedianStop(min_trials_required=3, start_step=2)
    history = [[0.2, 0.4, 0.9], [0.6, 0.8], [0.1, 0.1, 0.1, 0.1]]
    # running averages at step 2: 0.3, 0.7, 0.1: their median (0.3), not their mean
    assert rule.median_at(history, 2) == pytest.approx(0.3)
    # at step 3: 0.5, 0.7 (all it reported), 0.1
    assert rule.median_at(history, 3) == pytest.approx(0.5)
    assert rule.median_at(history[:2], 2) is None
    assert rule.applies(history) and not rule.applies(history[:2])


@pytest.mark.parametrize(
    "series,maximize,stop",
    [
        ([0.1], True, False),  # before start_step: never
        ([0.1, 0.2], True, True),  # best so far 0.2 < median 0.5 at step 2
        ([0.1, 0.6], True, False),  # best so far 0.6 >= 0.5
        ([0.9, 0.8], False, True),  # minimizing: best 0.8 > 0.5
        ([0.9, 0.4], False, False),
        ([float("nan"), float("nan")], True, False),
    ],
)
def test_a_trial_stops_when_its_best_so_far_is_worse(
    series: list[float], maximize: bool, stop: bool
) -> None:
    history = [[0.5, 0.5], [0.4, 0.6], [0.9, 0.1]]  # running averages at step 2: all 0.5
    breach = MedianStop(1, 2).breach(series, history, maximize)
    assert (breach is not None) is stop
    assert MedianStop(4, 2).breach(series, history, maximize) is None  # too few succeeded
    if breach is not None:
        assert breach.step == 2 and breach.median == pytest.approx(0.5) and breach.trials == 3
        assert breach.describe("accuracy").startswith("stopped at step 2: its best accuracy")


@given(
    st.lists(st.lists(st.floats(0, 1), min_size=1, max_size=8), min_size=1, max_size=7),
    st.lists(st.floats(0, 1), min_size=1, max_size=8),
)
def test_no_trial_at_least_as_good_as_half_the_finished_ones_is_stopped(
    history: list[list[float]], series: list[float]
) -> None:
    """The law of a median: a trial whose best so far is at least the running average of
    at least half the succeeded trials at its step is never stopped."""
    rule = MedianStop(min_trials_required=1, start_step=1)
    step = len(series)
    averages = sorted(sum(s[:step]) / len(s[:step]) for s in history)
    at_least = sum(1 for a in averages if max(series) >= a)
    if at_least * 2 >= len(averages) + 1:
        assert rule.breach(series, history, maximize=True) is None
    if at_least == 0:
        assert rule.breach(series, history, maximize=True) is not None


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
        stopped_at = re.match(r"stopped at step (\d+): its best accuracy", trial["message"])
        assert stopped_at and 2 <= int(stopped_at[1]) <= len(accuracy["values"])
