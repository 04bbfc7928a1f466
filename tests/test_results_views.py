"""The demo's results as people see them: its median-stop experiment stopping its slow
learners (and the summary saying at which step), and `hpo-gen dashboard` serving the
results, checked in a real browser (headless Chromium) with a screenshot kept in
.test-artifacts/."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from generator.dashboard import Studies
from generator.files import yamlio
from tests import browser
from tests.conftest import BIN, run_cli, this_spec_run

DEMO = ["katib-median-stop", "katib-random-search-mnist"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this repository's spec/, rendered, with two of the demo's experiments run
    by hpo-controller as `make demo` runs them."""
    return this_spec_run(tmp_path_factory.mktemp("demo") / "project", *DEMO)


def test_the_demo_s_median_stop_stops_its_slow_learners(demo: Path) -> None:
    document = yamlio.load((demo / "status/dev/katib-median-stop.yaml").read_text())
    trials = document["trials"]
    stopped = [t for t in trials if t["state"] == "EarlyStopped"]
    assert stopped, "the demo's median-stop experiment stopped no trial"
    succeeded = [t for t in trials if t["state"] == "Succeeded"]
    for trial in stopped:
        step = int(re.match(r"stopped at step (\d+):", trial["message"])[1])  # type: ignore[index]
        series = [float(v) for v in trial["metrics"][0]["values"]]
        # below the median of the trials that had succeeded, at the same step: below the
        # median of all the succeeded ones (those before it, and those after it)
        assert step >= 3 and max(series[:step]) < max(
            float(t["metrics"][0]["max"]) for t in succeeded
        )
        assert len(series) < 8  # stopped before its last epoch
    summary = (demo / "status/dev/katib-median-stop.md").read_text()
    rows = [line for line in summary.splitlines() if "| EarlyStopped |" in line]
    assert len(rows) == len(stopped)
    assert all(re.search(r"\| stopped at step \d+: its best accuracy so far", r) for r in rows)


@pytest.fixture
def dashboard(demo: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [str(BIN / "hpo-gen"), "dashboard", "--project", str(demo), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("hpo-gen dashboard: http://127.0.0.1:"), first + (
            process.stderr.read() if process.stderr else ""
        )
        yield first.split()[-1]
    finally:
        process.terminate()
        process.communicate(timeout=10)  # and its pipes closed


def shown_text(url: str) -> str:
    """What the page shows, as text, once its scripts have run."""
    dom = browser.page_text(url, wait_ms=15000)
    body = dom.split("<body", 1)[-1]
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def test_the_dashboard_shows_each_experiment_its_best_trial_and_its_trials(
    demo: Path, dashboard: str
) -> None:
    home = shown_text(dashboard)
    assert "dev/katib-median-stop" in home and "dev/katib-random-search-mnist" in home
    document = yamlio.load((demo / "status/dev/katib-median-stop.yaml").read_text())
    optimal = document["status"]["currentOptimalTrial"]
    best_name = optimal["bestTrialName"]
    best_number = [t["name"] for t in document["trials"]].index(best_name)
    study = re.search(r"(\d+)\. dev/katib-median-stop", home)
    assert study is not None
    page = f"{dashboard}/studies/{study[1]}"
    overview = shown_text(page)
    assert f"Best Trial (number={best_number}) {optimal['objectiveValue']:g}" in overview
    assert "Hyperparameter Importance" in overview and "Intermediate values" in overview
    trials = shown_text(f"{page}/trials")
    assert f"{len(document['trials'])} Trials" in trials
    assert "Pruned" in trials  # the early-stopped trials, as Optuna names them
    assert document["trials"][0]["name"] in trials  # the trial shown: its own name
    shot = browser.screenshot(page, "dashboard-katib-median-stop", wait_ms=15000)
    assert shot.stat().st_size > 20_000  # a page was drawn, not a blank window


def test_the_dashboard_follows_a_status_file_as_the_controller_rewrites_it(
    demo: Path, tmp_path: Path
) -> None:
    """A trial seen running with two reports, then finished: the study shows it running
    with its intermediate values, then complete with its value; a rerun starts afresh."""
    import optuna

    root = tmp_path / "project"
    shutil.copytree(demo / "overlays", root / "overlays")
    status = root / "status" / "dev" / "katib-median-stop.yaml"
    status.parent.mkdir(parents=True)
    whole = yamlio.load((demo / "status/dev/katib-median-stop.yaml").read_text())
    finished = whole["trials"][0]
    running = dict(finished, state="Running", reason="TrialRunning", completionTime=None)
    running["metrics"] = [
        dict(m, values=m["values"][:2], latest=m["values"][1]) for m in finished["metrics"]
    ]
    said: list[str] = []
    studies = Studies(root, "dev", said.append)

    def write(trials: list[dict[str, object]]) -> None:
        counted = dict(whole["status"], trials=len(trials))
        status.write_text(yamlio.dump(dict(whole, status=counted, trials=trials)))
        time.sleep(0.01)  # a new mtime

    write([running])
    studies.refresh()
    assert said == []
    [shown] = studies.shown.values()
    [trial] = studies.storage.get_all_trials(shown.study_id)
    assert trial.state is optuna.trial.TrialState.RUNNING
    assert list(trial.intermediate_values) == [1, 2]
    write(whole["trials"][:2])
    studies.refresh()
    first, second = studies.storage.get_all_trials(shown.study_id)
    assert first.state is optuna.trial.TrialState.COMPLETE
    assert first.value == pytest.approx(float(finished["metrics"][0]["max"]))
    assert len(first.intermediate_values) == len(finished["metrics"][0]["values"])
    assert second.user_attrs["trial"] == whole["trials"][1]["name"]
    write(whole["trials"][3:4])  # a rerun: other trials
    studies.refresh()
    [again] = studies.shown.values()
    [only] = studies.storage.get_all_trials(again.study_id)
    assert only.user_attrs["trial"] == whole["trials"][3]["name"]
    status.write_text("status: [cut short")
    studies.refresh()
    assert len(said) == 1 and "katib-median-stop.yaml left out" in said[0]
    studies.refresh()
    assert len(said) == 1  # said once


def test_the_dashboard_needs_results_to_show(tmp_path: Path) -> None:
    (tmp_path / "status").mkdir()
    result = run_cli(
        "hpo-gen", "dashboard", "--project", str(tmp_path), "--port", "0", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "no results in status/ to show" in result.stderr
    assert "hpo-controller run --env" in result.stderr


def test_a_port_in_use_is_a_clear_error(demo: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_cli("hpo-gen", "dashboard", "--project", str(demo), "--port", port, cwd=demo)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
