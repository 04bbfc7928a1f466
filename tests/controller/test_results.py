"""The result files: the status a run rewrites as it goes, the Markdown summary a person
reads and the two SVG pictures."""

from __future__ import annotations

import string
import xml.etree.ElementTree as ElementTree
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.records import (
    Completion,
    ExperimentRecord,
    MetricSummary,
    TrialRecord,
    TrialState,
)
from controller.core.results import StatusWriter, result_files, status_file, trial_yaml
from controller.core.status import trial_document
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
from generator.files import yamlio
from generator.katib.defaults import with_defaults

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
    assert "t-2: accuracy = 0.93" in markdown
    assert "| lr | 0.05 |" in markdown
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


# Text as trial records hold it (names, reasons, numbers and times in strings, paths, odd
# words YAML reads as something else), and text of any kind.
texts = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + " ._-/:+()'#", max_size=24),
    st.text(max_size=8),
    st.sampled_from(["0.05", "1e-3", "on", "null", "2026-11-23T06:23:24.863035Z", "", "a: b"]),
)
numbers = st.one_of(st.floats(), st.integers(-(10**6), 10**6).map(float))
trials = st.builds(
    TrialRecord,
    name=texts,
    assignments=st.lists(st.tuples(texts, texts), max_size=3).map(tuple),
    state=st.sampled_from(TrialState),
    reason=texts,
    message=texts,
    metrics=st.lists(
        st.builds(
            MetricSummary,
            texts,
            numbers,
            numbers,
            numbers,
            st.lists(numbers, max_size=3).map(tuple),
        ),
        max_size=2,
    ).map(tuple),
    start_time=st.none() | texts,
    completion_time=st.none() | texts,
    exit_code=st.none() | st.integers(-9, 255),
    log=st.none() | texts,
    restarts=st.integers(0, 3),
    labels=st.lists(st.tuples(texts, texts), max_size=2).map(tuple),
)


@settings(max_examples=300)
@given(trials)
def test_a_trials_status_lines_are_what_the_whole_document_has(trial: TrialRecord) -> None:
    """A trial's lines, written directly, are the text the status's writer gives its
    document (ruamel's; test_yamlio holds the writer to that)."""
    whole = yamlio.dump({"trials": [trial_document(trial)]}, fast=True)
    assert trial_yaml(trial) == whole.split("\n", 1)[1]
