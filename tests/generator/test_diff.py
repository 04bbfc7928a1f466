"""`hpo-gen diff --base REF`: the pull-request summary of what a change to spec/ does in
each environment, from REF's committed overlays and the specs as they are now."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ProjectFactory, render_and_commit, run_cli


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_pull_request_summary_of_every_kind_of_change(make_project: ProjectFactory) -> None:
    root = make_project(copy_spec=True)
    render_and_commit(root)
    envs = root / "spec/environments.py"
    edit(envs, "max_trial_count=40", "max_trial_count=50")  # a budget: patched in place
    edit(envs, '"katib-bayesian-optimization-cnn"]', '"katib-grid"]')  # one in, one out
    edit(root / "spec/mnist_random.py", "random_search()", "random_search(random_state=7)")
    (root / "status/prod").mkdir(parents=True)
    (root / "status/prod/katib-random-search-mnist.yaml").write_text(
        "experiment: katib-random-search-mnist\nnamespace: hpo\nenvironment: prod\n"
        "specDigest: sha256:0\nstatus:\n  startTime: '2026-01-01T00:00:00Z'\n"
        "  conditions:\n  - type: Running\n    status: 'True'\n    reason: ExperimentRunning\n"
        "    message: Experiment is running\n    lastUpdateTime: '2026-01-01T00:00:00Z'\n"
        "    lastTransitionTime: '2026-01-01T00:00:00Z'\n  trials: 0\n"
        + "".join(
            f"  {counter}: 0\n"
            for counter in (
                "trialsSucceeded",
                "trialsFailed",
                "trialsKilled",
                "trialsPending",
                "trialsRunning",
                "trialsEarlyStopped",
                "trialMetricsUnavailable",
            )
        )
        + "trials: []\n"
    )

    result = run_cli("hpo-gen", "diff", "--base", "HEAD", "--output", "json", cwd=root)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    changes = {(c["environment"], c["experiment"]): c for c in summary["changes"]}
    assert summary["environments"] == ["dev", "prod"]
    random = changes[("prod", "katib-random-search-mnist")]
    assert random["kind"] == "recreated"
    assert random["fields"] == ["spec.algorithm.algorithmSettings"]
    assert random["budgets"] == {"maxTrialCount": [40, 50]}
    assert random["names"][0] != random["names"][1]
    assert "discards its history" in random["warning"]
    assert changes[("prod", "katib-grid")]["kind"] == "added"
    assert "now runs in 'prod', in a cluster" in changes[("prod", "katib-grid")]["warning"]
    assert changes[("prod", "katib-bayesian-optimization-cnn")]["kind"] == "removed"
    assert changes[("dev", "katib-random-search-mnist")]["kind"] == "recreated"
    assert ("dev", "katib-tpe") not in changes

    text = run_cli("hpo-gen", "diff", "--base", "HEAD", cwd=root)
    assert text.returncode == 0
    assert "> **Warning:** 'katib-grid' now runs in 'prod', in a cluster" in text.stdout
    assert "| `prod` | `katib-random-search-mnist` | recreated |" in text.stdout
    assert "`maxTrialCount` 40 → 50" in text.stdout


def test_a_budget_only_change_keeps_the_experiment(make_project: ProjectFactory) -> None:
    root = make_project(copy_spec=True)
    render_and_commit(root)
    edit(root / "spec/environments.py", "max_trial_count=30", "max_trial_count=35")
    result = run_cli("hpo-gen", "diff", "--base", "HEAD", "--output", "json", cwd=root)
    [change] = json.loads(result.stdout)["changes"]
    assert change["kind"] == "budget" and change["names"][0] == change["names"][1]
    assert change["warning"] is None


def test_nothing_changed_and_an_unknown_base(make_project: ProjectFactory) -> None:
    root = make_project(copy_spec=True)
    render_and_commit(root)
    same = run_cli("hpo-gen", "diff", "--base", "HEAD", cwd=root)
    assert "No experiment changes in any environment." in same.stdout
    unknown = run_cli("hpo-gen", "diff", "--base", "no-such-branch", cwd=root)
    assert unknown.returncode == 1
    assert "no commit 'no-such-branch'" in unknown.stderr


def test_a_base_without_overlays_makes_everything_new(make_project: ProjectFactory) -> None:
    root = make_project(copy_spec=True)  # the first commit has spec/ only
    result = run_cli("hpo-gen", "diff", "--base", "HEAD", "--output", "json", cwd=root)
    kinds = {c["kind"] for c in json.loads(result.stdout)["changes"]}
    assert kinds == {"added"}
