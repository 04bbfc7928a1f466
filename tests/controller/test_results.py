"""The result files: the status a run rewrites as it goes, the Markdown summary a person
reads and the two SVG pictures."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import replace

from controller.records import Completion, ExperimentRecord, MetricSummary, TrialRecord, TrialState
from controller.results import StatusWriter, result_files, status_file
from generator import (
    SearchSpace,
    categorical,
    container,
    double,
    experiment,
    job,
    maximize,
    random_search,
)
from generator.defaults import with_defaults

SVG = "{http://www.w3.org/2000/svg}"


def example() -> tuple:  # type: ignore[type-arg]
    space = SearchSpace(lr=double(0.01, 0.1), optimizer=categorical(["sgd", "adam"]))
    spec = with_defaults(
        experiment(
            "summary-example",
            objective=maximize("accuracy", goal=0.95),
            algorithm=random_search(),
            parameters=space,
            max_trial_count=4,
            trial=job(container(image="t:1", command=["t"], args=space.cli_args())),
        )
    )
    trials = []
    for index, (lr, optimizer, accuracy) in enumerate(
        [("0.02", "sgd", 0.81), ("0.05", "adam", 0.93), ("0.09", "sgd", 0.88)], start=1
    ):
        metric = MetricSummary(
            "accuracy", accuracy - 0.1, accuracy, accuracy, (accuracy - 0.1, accuracy)
        )
        trials.append(
            TrialRecord(
                f"t-{index}",
                (("lr", lr), ("optimizer", optimizer)),
                TrialState.SUCCEEDED,
                metrics=(metric,),
            )
        )
    trials.append(TrialRecord("t-4", (("lr", "0.07"), ("optimizer", "adam")), TrialState.FAILED))
    record = ExperimentRecord("summary-example", "hpo-dev", trials, "2026-01-01T00:00:00Z")
    record.completion = Completion(
        "Succeeded", "ExperimentMaxTrialsReached", "max trial count reached"
    )
    return spec, record


def test_the_summary_names_the_best_trial_and_sorts_by_the_objective() -> None:
    spec, record = example()
    markdown = result_files(spec, record, "dev")["summary-example.md"]
    assert "`t-2`: accuracy = 0.93" in markdown
    assert "| lr | `0.05` |" in markdown
    assert "- Ended: Succeeded, ExperimentMaxTrialsReached" in markdown
    rows = [
        line.split(" | ")[0].strip("| ")
        for line in markdown.splitlines()
        if line.startswith("| t-")
    ]
    assert rows == ["t-2", "t-3", "t-1", "t-4"]  # best first; the failed trial last
    assert "![accuracy per trial](summary-example-objective.svg)" in markdown


def test_the_pictures_are_svg_with_a_mark_per_trial() -> None:
    spec, record = example()
    files = result_files(spec, record, "dev")
    objective = ElementTree.fromstring(files["summary-example-objective.svg"])
    assert len(objective.findall(f"{SVG}circle")) == 3  # the failed trial has no value
    assert len(objective.findall(f"{SVG}polyline")) == 1  # best so far
    parallel = ElementTree.fromstring(files["summary-example-parallel.svg"])
    assert len(parallel.findall(f"{SVG}polyline")) == 3
    assert result_files(spec, record, "dev") == files  # the same records, the same bytes


def test_a_run_without_values_still_draws() -> None:
    spec, record = example()
    record.trials = [TrialRecord("t-1", (("lr", "0.02"), ("optimizer", "sgd")), TrialState.RUNNING)]
    files = result_files(spec, record, "dev")
    assert "no trial has reported a value yet" in files["summary-example-objective.svg"]
    assert "No trial has reported the objective yet." in files["summary-example.md"]


def test_the_incremental_status_writer_writes_what_the_whole_dump_writes() -> None:
    spec, record = example()
    writer = StatusWriter(spec, "dev")
    full = ExperimentRecord("summary-example", "hpo-dev", [], "2026-01-01T00:00:00Z")
    assert writer(full) == status_file(spec, full, "dev")
    for trial in record.trials:  # trials appear running, then finish, one at a time
        full.trials.append(replace(trial, state=TrialState.RUNNING, metrics=()))
        assert writer(full) == status_file(spec, full, "dev")
        full.trials[-1] = replace(trial, labels=(("k", "v: with colon"),))
        assert writer(full) == status_file(spec, full, "dev")
    full.completion = record.completion
    assert writer(full) == status_file(spec, full, "dev")
    assert len(writer.fragments) == len(full.trials)
