"""hpo-controller run on small experiments in temporary git repositories: real
processes, real kustomize, real commits."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from generator.files import yamlio
from tests.conftest import BIN, ProjectFactory, git, render_and_commit, run_cli

TRAIN = """\
import sys

args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
x, shift = float(args["x"]), int(args["shift"])
if x > float(args.get("fail-above", "9")):
    sys.exit(3)
if args.get("quiet") != "yes":
    for epoch in (1, 2):
        print(f"epoch={epoch} accuracy={(1 - (x - 0.2) ** 2 - 0.1 * shift) * epoch / 2:.6f}")
"""

SPEC = """\
from generator import SearchSpace, algorithm, categorical, container, double, experiment, job
from generator import maximize

space = SearchSpace(x=double(-1.0, 1.0), shift=categorical([0, 1]))
quadratic = experiment(
    "quadratic",
    objective=maximize("accuracy"{goal}),
    algorithm=algorithm("random", random_state=7),
    parameters=space,
    max_trial_count=6,
    parallel_trial_count=2,
    max_failed_trial_count={max_failed},
    trial=job(container(image="trainer:1", command=["python", "train.py"],
                        args=[*space.cli_args(), {extra}])),
)
"""


RESULT_FILES = [
    "status/dev/quadratic-curves.svg",
    "status/dev/quadratic-objective.svg",
    "status/dev/quadratic-parallel.svg",
    "status/dev/quadratic.md",
    "status/dev/quadratic.yaml",
]


def project(
    make_project: ProjectFactory, *, goal: str = "", max_failed: int = 6, extra: str = "'--q=1'"
) -> Path:
    source = SPEC.format(goal=goal, max_failed=max_failed, extra=extra)
    root = make_project({"spec/quadratic.py": source, "train.py": TRAIN})
    render_and_commit(root)
    return root


def status_of(root: Path) -> dict:  # type: ignore[type-arg]
    return yamlio.load((root / "status/dev/quadratic.yaml").read_text())  # type: ignore[no-any-return]


def test_a_run_commits_the_results_and_nothing_else(make_project: ProjectFactory) -> None:
    root = project(make_project)
    (root / "train.py").write_text(TRAIN + "\n# an edit in progress\n")
    (root / "notes.txt").write_text("staged, not for the controller\n")
    git(root, "add", "notes.txt")
    head = git(root, "rev-parse", "HEAD").strip()

    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr

    assert git(root, "rev-list", "--count", f"{head}..HEAD").strip() == "1"
    changed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == RESULT_FILES
    assert git(root, "status", "--porcelain").splitlines() == ["A  notes.txt", " M train.py"]

    document = status_of(root)
    status = document["status"]
    trials = document["trials"]
    assert status["trials"] == len(trials) == 6
    assert status["trialsSucceeded"] == 6
    assert [c["type"] for c in status["conditions"]] == ["Created", "Running", "Succeeded"]
    assert status["conditions"][-1]["reason"] == "ExperimentMaxTrialsReached"
    best = max(trials, key=lambda t: t["metrics"][0]["max"])
    assert status["currentOptimalTrial"]["bestTrialName"] == best["name"]
    assert status["currentOptimalTrial"]["objectiveValue"] == best["metrics"][0]["max"]
    assert status["currentOptimalTrial"]["parameterAssignments"] == best["parameterAssignments"]
    for trial in trials:
        [accuracy] = trial["metrics"]
        first_epoch = accuracy["latest"] / 2
        expected = sorted([accuracy["latest"], first_epoch])
        assert [accuracy["min"], accuracy["max"]] == pytest.approx(expected, abs=1e-6)

    subject = git(root, "log", "-1", "--format=%s").strip()
    assert subject.startswith("quadratic: ExperimentMaxTrialsReached, best accuracy=")
    assert "Experiment: hpo-dev/quadratic" in git(root, "log", "-1", "--format=%b")


def test_the_same_seed_gives_the_same_trials(make_project: ProjectFactory, tmp_path: Path) -> None:
    root = project(make_project)
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 0
    first = [t["parameterAssignments"] for t in status_of(root)["trials"]]
    assert run_cli("hpo-controller", "run", "--env", "dev", "--rerun", cwd=root).returncode == 0
    second = [t["parameterAssignments"] for t in status_of(root)["trials"]]
    assert sorted(map(str, first)) == sorted(map(str, second))


def test_a_finished_experiment_is_not_run_again(make_project: ProjectFactory) -> None:
    root = project(make_project)
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 0
    head = git(root, "rev-parse", "HEAD")
    again = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert again.returncode == 0
    assert "already complete" in again.stdout
    assert git(root, "rev-parse", "HEAD") == head


def test_the_goal_ends_the_experiment_early(make_project: ProjectFactory) -> None:
    root = project(make_project, goal=", goal=-5.0")
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 0
    status = status_of(root)["status"]
    assert status["conditions"][-1]["reason"] == "ExperimentGoalReached"
    assert status["trialsSucceeded"] >= 1
    assert status["trials"] < 6


def test_failed_trials_fail_the_experiment_and_are_recorded(make_project: ProjectFactory) -> None:
    root = project(make_project, max_failed=2, extra="'--fail-above=-2'")
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 1
    status = status_of(root)["status"]
    assert status["conditions"][-1]["type"] == "Failed"
    assert status["conditions"][-1]["reason"] == "ExperimentFailed"
    assert status["trialsFailed"] == 2
    failed = [t for t in status_of(root)["trials"] if t["state"] == "Failed"]
    assert {t["exitCode"] for t in failed} == {3}
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == RESULT_FILES


def test_a_trial_without_the_objective_metric_is_metrics_unavailable(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project, max_failed=1, extra="'--quiet=yes'")
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 1
    trials = status_of(root)["trials"]
    unavailable = [t for t in trials if t["state"] == "MetricsUnavailable"]
    assert unavailable and all(t["exitCode"] == 0 for t in unavailable)
    # the first to finish fails the experiment; one still running then is stopped
    assert {t["state"] for t in trials} <= {"MetricsUnavailable", "Killed"}


def test_an_unknown_environment_is_a_clear_error(make_project: ProjectFactory) -> None:
    root = project(make_project)
    result = run_cli("hpo-controller", "run", "--env", "staging", cwd=root)
    assert result.returncode == 1
    assert "no environment 'staging' in overlays/ (rendered environments: dev)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_repository_dev_experiment_runs_to_completion(make_project: ProjectFactory) -> None:
    root = make_project(copy_spec=True)
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr
    document = yamlio.load((root / "status/dev/katib-random-search-mnist.yaml").read_text())
    assert document["status"]["trials"] == 9 or (
        document["status"]["conditions"][-1]["reason"] == "ExperimentGoalReached"
    )
    assert document["status"]["trialsSucceeded"] == document["status"]["trials"]


CONFIGMAP_SPEC = """\
from generator import SearchSpace, categorical, config_map_source, container, double
from generator import experiment, maximize, random_search, trial_template, trial_templates

space = SearchSpace(x=double(-1.0, 1.0), shift=categorical([0, 1]))
templates = trial_templates(
    "quadratic-templates",
    {
        "job.yaml": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            container(
                                image="trainer:1",
                                command=["python", "train.py"],
                                args=space.cli_args(),
                            )
                        ],
                        "restartPolicy": "Never",
                    }
                }
            },
        }
    },
)
quadratic = experiment(
    "quadratic",
    objective=maximize("accuracy"),
    algorithm=random_search(random_state=3),
    parameters=space,
    max_trial_count=3,
    parallel_trial_count=3,
    trial=trial_template(
        config_map=config_map_source(
            "quadratic-templates", namespace="hpo-dev", template_path="job.yaml"
        ),
        primary_container_name="training-container",
        success_condition='status.conditions.#(type=="Complete")#|#(status=="True")#',
        failure_condition='status.conditions.#(type=="Failed")#|#(status=="True")#',
    ),
)
"""


def test_a_configmap_trial_template_is_rendered_patched_and_run(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/quadratic.py": CONFIGMAP_SPEC, "train.py": TRAIN})
    (root / "spec/environments.py").write_text(
        "from generator import environment\n\n"
        "dev = environment('dev', namespace='hpo-dev', experiments='*')\n"
        "staging = environment('staging', namespace='hpo-staging', experiments='*')\n"
    )
    rendered = run_cli("hpo-gen", "render", cwd=root)
    assert rendered.returncode == 0, rendered.stderr
    built = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(root / "overlays/staging")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    documents = {d["kind"]: d for d in yamlio.load_all(built)}
    assert documents["ConfigMap"]["metadata"]["namespace"] == "hpo-staging"
    source = documents["Experiment"]["spec"]["trialTemplate"]["configMap"]
    assert source["configMapNamespace"] == "hpo-staging"
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "render")
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr
    assert status_of(root)["status"]["trialsSucceeded"] == 3


def test_a_missing_configmap_is_caught_at_render(make_project: ProjectFactory) -> None:
    source = CONFIGMAP_SPEC.replace('(\n    "quadratic-templates"', '(\n    "other-templates"')
    root = make_project({"spec/quadratic.py": source, "train.py": TRAIN})
    result = run_cli("hpo-gen", "render", cwd=root)
    assert result.returncode == 1
    assert "[trial-template-configmap]" in result.stderr
    assert not (root / "overlays").exists()


def test_warm_starts_are_an_environment_setting(make_project: ProjectFactory) -> None:
    from controller.sources.overlay import read_overlay

    root = make_project({"spec/quadratic.py": SPEC.format(goal="", max_failed=6, extra="'--q=1'")})
    (root / "spec/environments.py").write_text(
        "from generator import environment\n\n"
        "dev = environment('dev', namespace='hpo-dev', experiments='*')\n"
        "ci = environment('ci', namespace='hpo-ci', experiments='*', warm_starts=False)\n"
    )
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    assert read_overlay(root / "overlays/dev", "dev").warm_starts is True
    assert read_overlay(root / "overlays/ci", "ci").warm_starts is False


def test_a_used_up_grid_ends_with_suggestion_end_reached(make_project: ProjectFactory) -> None:
    source = (
        SPEC.format(goal="", max_failed=6, extra="'--q=1'")
        .replace("x=double(-1.0, 1.0)", "x=double(-1.0, 1.0, step=1.0)")
        .replace('algorithm=algorithm("random", random_state=7)', 'algorithm=algorithm("grid")')
        .replace("max_trial_count=6,", "")
    )
    root = make_project({"spec/quadratic.py": source, "train.py": TRAIN})
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr
    status = status_of(root)["status"]
    assert status["conditions"][-1]["reason"] == "ExperimentSuggestionEndReached"
    assert status["trials"] == status["trialsSucceeded"] == 6  # 3 x values, 2 shifts
    assignments = {str(t["parameterAssignments"]) for t in status_of(root)["trials"]}
    assert len(assignments) == 6


def test_status_and_best_read_the_committed_results(make_project: ProjectFactory) -> None:
    import json

    root = project(make_project)
    assert run_cli("hpo-gen", "best", "quadratic", cwd=root).returncode == 1
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 0
    [shown] = json.loads(run_cli("hpo-gen", "status", "--output", "json", cwd=root).stdout)
    document = status_of(root)
    optimal = document["status"]["currentOptimalTrial"]
    assert shown["experiment"] == "quadratic" and shown["state"] == "Succeeded"
    assert shown["trials"] == 6 and shown["best"]["trial"] == optimal["bestTrialName"]
    text = run_cli("hpo-gen", "status", cwd=root).stdout
    assert text.startswith("dev/quadratic: Succeeded (ExperimentMaxTrialsReached), 6 trials")
    best = json.loads(run_cli("hpo-gen", "best", "quadratic", cwd=root).stdout)
    values = {a["name"]: a["value"] for a in optimal["parameterAssignments"]}
    assert best["parameters"] == values
    args = run_cli("hpo-gen", "best", "quadratic", "--format", "args", cwd=root).stdout
    assert args.split() == [f"--x={values['x']}", f"--shift={values['shift']}"]
    env = run_cli("hpo-gen", "best", "quadratic", "--format", "env", cwd=root).stdout
    assert env.splitlines() == [f"X={values['x']}", f"SHIFT={values['shift']}"]
    missing = run_cli("hpo-gen", "best", "quadratik", cwd=root)
    assert missing.returncode == 1 and "did you mean 'quadratic'?" in missing.stderr


@pytest.mark.parametrize("policy,continues", [("LongRunning", True), ("Never", False)])
def test_a_raised_budget_continues_a_long_running_experiment(
    make_project: ProjectFactory, policy: str, continues: bool
) -> None:
    source = SPEC.format(goal="", max_failed=6, extra="'--q=1'").replace(
        "max_trial_count=6,", f"max_trial_count=6, resume_policy={policy!r},"
    )
    root = make_project({"spec/quadratic.py": source, "train.py": TRAIN})
    render_and_commit(root)
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 0
    first = status_of(root)["trials"]
    (root / "spec/quadratic.py").write_text(
        source.replace("max_trial_count=6,", "max_trial_count=9,")
    )
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    again = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert again.returncode == 0, again.stderr
    trials = status_of(root)["trials"]
    if continues:
        assert "restarting for its raised budget" in again.stdout
        assert len(trials) == 9 and trials[:6] == first
        assert len({str(t["parameterAssignments"]) for t in trials}) == 9
    else:
        assert "resumePolicy Never keeps a finished experiment finished" in again.stdout
        assert trials == first


def test_json_logs_are_one_object_a_line(make_project: ProjectFactory) -> None:
    import json

    root = project(make_project)
    result = run_cli("hpo-controller", "run", "--env", "dev", "--log-format", "json", cwd=root)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert {r["level"] for r in records} == {"info"}
    assert all(r["time"].endswith("Z") for r in records)
    started = [r for r in records if r.get("event") == "trial_started"]
    ended = [r for r in records if r.get("event") == "trial_ended"]
    assert len(started) == len(ended) == 6
    for record in ended:
        assert record["experiment"] == "quadratic"
        assert record["trial"].startswith("quadratic-") and record["state"] == "Succeeded"
        assert record["reason"] == "TrialSucceeded"
        assert set(record["parameters"]) == {"x", "shift"}
        value = record["metrics"]["accuracy"]
        assert set(value) == {"min", "max", "latest"} and isinstance(value["latest"], float)
        assert record["startTime"].endswith("Z") and record["completionTime"].endswith("Z")
    [end] = [r for r in records if r.get("event") == "experiment_ended"]
    assert end["state"] == "Succeeded" and end["reason"] == "ExperimentMaxTrialsReached"
    assert end["trials"] == 6 and end["states"] == {"Succeeded": 6}
    assert end["best"]["trial"] in {r["trial"] for r in ended}
    text = run_cli("hpo-controller", "run", "--env", "dev", "--rerun", cwd=root)
    assert "{" not in text.stderr  # the text format shows messages alone


def test_a_terminal_gets_a_live_bar_with_the_best_value(make_project: ProjectFactory) -> None:
    import os
    import pty

    root = project(make_project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"COLUMNS": "100", "TERM": "xterm"}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(BIN / "hpo-controller"), "run", "--env", "dev"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the controller
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert b"quadratic:" in out
    screen = shown.decode(errors="replace")
    best = status_of(root)["status"]["currentOptimalTrial"]["objectiveValue"]
    assert "quadratic" in screen and "6/6" in screen
    assert f"best accuracy={best:.4g}" in screen
    assert "started" not in screen  # the bar replaces the per-trial log lines


def test_the_status_follows_its_experiment_across_a_rename(make_project: ProjectFactory) -> None:
    """A change Katib cannot update renames the Experiment (its spec hash); its results
    stay in status/dev/quadratic.yaml, which names the hash each run ran."""
    root = project(make_project, extra="'--q=1'")
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 0
    first = status_of(root)["specDigest"]
    named = yamlio.load((root / "overlays/base/quadratic/experiment.yaml").read_text())
    assert named["metadata"]["name"] == f"quadratic-{first.removeprefix('sha256:')[:6]}"

    spec = root / "spec/quadratic.py"
    spec.write_text(spec.read_text().replace("'--q=1'", "'--q=2'"))
    render_and_commit(root)
    renamed = yamlio.load((root / "overlays/base/quadratic/experiment.yaml").read_text())
    assert renamed["metadata"]["name"] != named["metadata"]["name"]

    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr
    second = status_of(root)["specDigest"]
    assert second != first
    assert renamed["metadata"]["name"] == f"quadratic-{second.removeprefix('sha256:')[:6]}"
    assert sorted(p.name for p in (root / "status/dev").glob("*.yaml")) == ["quadratic.yaml"]
    assert first in git(root, "show", "HEAD~2:status/dev/quadratic.yaml")


def with_remote(root: Path) -> Path:
    """A bare remote for the project, as `origin`, holding its main branch."""
    remote = root.parent / "remote.git"
    git(root.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "--quiet", "origin", "main")
    return remote


def test_results_on_a_status_branch_leave_the_checkout_alone(make_project: ProjectFactory) -> None:
    root = project(make_project)
    remote = with_remote(root)
    head = git(root, "rev-parse", "HEAD")
    args = ("run", "--env", "dev", "--results", "status-branch", "--push", "origin")
    result = run_cli("hpo-controller", *args, cwd=root)
    assert result.returncode == 0, result.stderr
    assert git(root, "rev-parse", "HEAD") == head  # nothing on the branch checked out
    assert git(root, "status", "--porcelain") == ""  # nor in the work tree
    landed = git(remote, "ls-tree", "-r", "--name-only", "hpo-status/dev").split()
    assert landed == RESULT_FILES
    assert "[skip ci]" in git(remote, "log", "-1", "--format=%s", "hpo-status/dev")
    assert git(remote, "rev-list", "--merges", "hpo-status/dev") == ""

    again = run_cli("hpo-controller", *args, cwd=root)
    assert "already complete" in again.stdout
    said = run_cli("hpo-gen", "status", cwd=root)
    assert "`hpo-gen status --project .hpo/results/dev`" in said.stderr
    listed = run_cli("hpo-gen", "status", "--project", ".hpo/results/dev", cwd=root)
    assert listed.stdout.startswith("dev/quadratic: Succeeded"), listed.stderr

    shutil.rmtree(root / ".hpo" / "results")  # as a fresh clone: the branch has them
    git(root, "branch", "-D", "hpo-status/dev")
    fresh = run_cli("hpo-controller", *args, cwd=root)
    assert fresh.returncode == 0, fresh.stderr
    assert "already complete" in fresh.stdout


def test_no_commit_writes_files_only_and_push_needs_a_status_branch(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project)
    with_remote(root)
    head = git(root, "rev-parse", "HEAD")
    refused = run_cli("hpo-controller", "run", "--env", "dev", "--push", "origin", cwd=root)
    assert refused.returncode == 1
    assert "pushed only from a status branch" in refused.stderr
    result = run_cli("hpo-controller", "run", "--env", "dev", "--no-commit", cwd=root)
    assert result.returncode == 0, result.stderr
    assert git(root, "rev-parse", "HEAD") == head
    assert (root / "status/dev/quadratic.yaml").is_file()


def with_environment(make_project: ProjectFactory, settings: str) -> Path:
    """The quadratic project whose environment `dev` takes every experiment with
    `settings` (keyword arguments of environment(), as source)."""
    root = make_project(
        {
            "spec/quadratic.py": SPEC.format(goal="", max_failed=6, extra="'--q=1'"),
            "train.py": TRAIN,
        }
    )
    (root / "spec/environments.py").write_text(
        "from generator import environment\n\n"
        "dev = environment('dev', namespace='hpo-dev', experiments='*',\n"
        f"    {settings})\n"
    )
    return root


def test_an_environment_says_where_its_results_go(make_project: ProjectFactory) -> None:
    root = with_environment(
        make_project,
        "results='status-branch', status_branch='results/dev', push='origin',\n"
        "    commit_interval=30, commit_author='hpo-bot <bot@example.com>',\n"
        "    commit_message='results of {experiment}: {summary} [skip ci]',\n"
        "    commit_trailers={'Team': 'ml-platform'}",
    )
    render_and_commit(root)
    config = yamlio.load((root / "overlays/dev/controller-config.yaml").read_text())
    assert (
        config["data"].items()
        >= {
            "results": "status-branch",
            "statusBranch": "results/dev",
            "push": "origin",
            "commitInterval": "30",
        }.items()
    )
    remote = with_remote(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "status/dev/quadratic.yaml" in git(remote, "ls-tree", "-r", "--name-only", "results/dev")
    shown = git(
        remote, "log", "-1", "--format=%an <%ae>|%cn|%s|%(trailers:key=Team)", "results/dev"
    )
    author, committer, subject, team = shown.strip().split("|")
    assert (author, committer) == ("hpo-bot <bot@example.com>", "hpo-bot")
    assert subject.startswith("results of quadratic: quadratic: ") and subject.endswith("[skip ci]")
    assert team == "Team: ml-platform"


def test_a_commit_message_template_is_text_and_nothing_else(make_project: ProjectFactory) -> None:
    root = make_project()
    (root / "spec/environments.py").write_text(
        "from generator import environment\n\n"
        "dev = environment('dev', namespace='hpo-dev', experiments='*',\n"
        "    commit_message='{summary.__class__} {experiment}', commit_author='nobody',\n"
        "    commit_trailers={'Bad Key': 'x', 'Ok': 'two\\nlines'})\n"
    )
    result = run_cli("hpo-gen", "validate", cwd=root)
    assert result.returncode == 1
    assert "commit_message must be text with only these fields" in result.stderr
    assert "commit_author 'nobody' is not 'Name <email>'" in result.stderr
    assert "trailer 'Bad Key'" in result.stderr and "trailer 'Ok'" in result.stderr


def test_the_status_names_the_commit_it_ran_and_whether_the_spec_held_changes(
    make_project: ProjectFactory,
) -> None:
    root = project(make_project)
    head = git(root, "rev-parse", "HEAD").strip()
    assert run_cli("hpo-controller", "run", "--env", "dev", cwd=root).returncode == 0
    document = status_of(root)
    assert (document["specCommit"], document["specDirty"]) == (head, False)

    spec = root / "spec/quadratic.py"
    spec.write_text(spec.read_text().replace("'--q=1'", "'--q=3'"))  # not committed
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr
    assert status_of(root)["specDirty"] is True


def test_a_protected_branch_checked_out_sends_results_to_the_status_branch(
    make_project: ProjectFactory,
) -> None:
    root = with_environment(make_project, "protected_branches=['main', 'release/*']")
    render_and_commit(root)
    config = yamlio.load((root / "overlays/dev/controller-config.yaml").read_text())
    assert config["data"]["results"] == "branch"
    assert config["data"]["protectedBranches"] == "main\nrelease/*\n"
    git(root, "switch", "--quiet", "-c", "release/1.0")
    head = git(root, "rev-parse", "HEAD")
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "release/1.0 is a protected branch of environment 'dev'" in result.stdout
    assert git(root, "rev-parse", "HEAD") == head  # nothing committed onto it
    assert "status/dev/quadratic.yaml" in git(
        root, "ls-tree", "-r", "--name-only", "hpo-status/dev"
    )
    git(root, "switch", "--quiet", "-c", "topic")  # not protected: today's behaviour
    again = run_cli("hpo-controller", "run", "--env", "dev", "--rerun", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "protected" not in again.stdout
    assert git(root, "rev-parse", "HEAD") != head  # committed onto topic
    bad = root / "spec/environments.py"
    bad.write_text(bad.read_text().replace("'release/*'", "'release/..x'"))
    refused = run_cli("hpo-gen", "render", cwd=root)
    assert refused.returncode == 1
    assert "protected_branches 'release/..x' is not a branch name or pattern" in refused.stderr
