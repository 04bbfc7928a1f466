"""The result files: the status a run rewrites as it goes, the Markdown summary a person
reads and its three SVG pictures (drawn by matplotlib, checked as text and in Chromium)."""

from __future__ import annotations

import string
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

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
    integer,
    job,
    maximize,
    random_search,
)
from generator.files import yamlio
from generator.katib.defaults import with_defaults
from tests import browser

SVG = "{http://www.w3.org/2000/svg}"


def example() -> tuple:  # type: ignore[type-arg]
    space = SearchSpace(lr=double(0.01, 0.1), optimizer=categorical(["sgd", "adam"]))
    spec = with_defaults(
        experiment(
            "summary-example",
            objective=maximize("accuracy", goal=0.95, additional_metrics=["loss"]),
            algorithm=random_search(),
            parameters=space,
            max_trial_count=5,
            trial=job(container(image="t:1", command=["t"], args=space.cli_args())),
        )
    )
    trials = []
    for index, (lr, optimizer, accuracy) in enumerate(
        [("0.02", "sgd", 0.81), ("0.05", "adam", 0.93), ("0.09", "sgd", 0.88)], start=1
    ):
        series = (accuracy - 0.2, accuracy - 0.1, accuracy)
        trials.append(
            TrialRecord(
                f"t-{index}",
                (("lr", lr), ("optimizer", optimizer)),
                TrialState.SUCCEEDED,
                metrics=(
                    MetricSummary("accuracy", min(series), max(series), accuracy, series),
                    MetricSummary("loss", 0.2, 1.0 - accuracy + 0.5, 0.2, (0.9, 0.5, 0.2)),
                ),
                start_time=f"2026-01-01T00:0{index}:00Z",
                completion_time=f"2026-01-01T00:0{index}:42.5Z",
                log=f".hpo/logs/dev/summary-example/t-{index}.log",
            )
        )
    trials.append(
        TrialRecord(
            "t-4",
            (("lr", "0.011"), ("optimizer", "adam")),
            TrialState.EARLY_STOPPED,
            "TrialEarlyStopped",
            "stopped at step 2: its best accuracy so far, 0.4, was worse than 0.71",
            metrics=(MetricSummary("accuracy", 0.3, 0.4, 0.4, (0.3, 0.4)),),
        )
    )
    trials.append(
        TrialRecord(
            "t-5",
            (("lr", "0.07"), ("optimizer", "adam")),
            TrialState.FAILED,
            "TrialFailed",
            "exit code 3",
        )
    )
    record = ExperimentRecord("summary-example", "hpo-dev", trials, "2026-01-01T00:00:00Z")
    record.completion_time = "2026-01-01T00:10:00Z"
    record.completion = Completion(
        "Succeeded", "ExperimentMaxTrialsReached", "max trial count reached"
    )
    return spec, record


def table_rows(markdown: str) -> list[list[str]]:
    """The trials table's rows, as cells."""
    lines = markdown.split("## Trials", 1)[1].splitlines()
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[4:] if line]


def test_the_summary_says_how_the_run_stands_and_its_budget() -> None:
    spec, record = example()
    markdown = result_files(spec, record, "dev")["summary-example.md"]
    assert "- State: **Succeeded**: ExperimentMaxTrialsReached, max trial count reached" in (
        markdown
    )
    assert "- Objective: maximize accuracy, goal 0.95" in markdown
    assert (
        "- Budget: 5 trials of at most 5, 3 at a time (3 Succeeded, 1 EarlyStopped, 1 Failed)"
        in markdown
    )
    limited = spec.model_copy(
        update={"spec": spec.spec.model_copy(update={"max_failed_trial_count": 2})}
    )
    assert (
        "3 at a time; 1 failed of at most 2 ("
        in result_files(limited, record, "dev")["summary-example.md"]
    )
    assert "ended 2026-01-01T00:10:00Z (10 min 0 s)" in markdown


def test_the_best_trial_shows_every_metric_by_each_strategy_and_its_parameters() -> None:
    spec, record = example()
    markdown = result_files(spec, record, "dev")["summary-example.md"]
    best = markdown.split("## Best trial", 1)[1].split("## Pictures", 1)[0]
    assert "t-2 (Succeeded, 42.5 s)" in best
    assert "| accuracy | max | 0.93 | 0.73 | 0.93 | 0.93 |" in best
    assert "| loss | max | 0.57 | 0.2 | 0.57 | 0.2 |" in best
    assert "| lr | 0.05 |" in best and "| optimizer | adam |" in best


def test_the_trials_table_has_every_trial_metric_state_duration_log_and_why() -> None:
    spec, record = example()
    markdown = result_files(spec, record, "dev")["summary-example.md"]
    head = markdown.split("## Trials", 1)[1].splitlines()[2]
    assert head == (
        "| # | trial | state | accuracy (max) | loss (max) | lr | optimizer | duration | log | "
        "why |"
    )
    rows = table_rows(markdown)
    assert [row[1] for row in rows] == ["t-2", "t-3", "t-1", "t-4", "t-5"]  # best first
    assert rows[0] == [
        "2",
        "t-2",
        "Succeeded",
        "0.93",
        "0.57",
        "0.05",
        "adam",
        "42.5 s",
        ".hpo/logs/dev/summary-example/t-2.log",
        "",
    ]
    stopped, failed = rows[3], rows[4]
    assert stopped[2] == "EarlyStopped" and stopped[-1].startswith("stopped at step 2")
    assert failed[2] == "Failed" and failed[-1] == "exit code 3"


def test_the_summary_shows_the_three_pictures() -> None:
    spec, record = example()
    files = result_files(spec, record, "dev")
    markdown = files["summary-example.md"]
    for suffix in ("-objective.svg", "-curves.svg", "-parallel.svg"):
        assert f"](summary-example{suffix})" in markdown
        assert f"summary-example{suffix}" in files


def texts_of(svg: str) -> list[str]:
    """The text an SVG shows (matplotlib keeps text as <text> elements)."""
    root = ElementTree.fromstring(svg)
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


def test_the_objective_picture_has_trial_ticks_a_value_axis_and_a_legend() -> None:
    spec, record = example()
    shown = texts_of(result_files(spec, record, "dev")["summary-example-objective.svg"])
    assert "accuracy per trial (maximize)" in shown
    assert {"1", "2", "3", "4", "5"} <= set(shown)  # a tick per trial
    assert {"0.5", "0.6", "0.7", "0.8", "0.9"} <= set(shown)  # more than min and max
    assert {"succeeded", "early stopped", "best so far", "goal 0.95"} <= set(shown)
    assert "trial, in the order created" in shown and "accuracy" in shown


def test_the_curves_picture_draws_each_trial_s_series() -> None:
    spec, record = example()
    svg = result_files(spec, record, "dev")["summary-example-curves.svg"]
    shown = texts_of(svg)
    assert "accuracy over each trial's steps" in shown
    assert {"succeeded", "early stopped (x: where)", "goal 0.95", "step (report)"} <= set(shown)
    assert {"1", "2", "3"} <= set(shown)


def test_the_parallel_picture_labels_its_axes_categories_and_colour_scale() -> None:
    spec, record = example()
    shown = texts_of(result_files(spec, record, "dev")["summary-example-parallel.svg"])
    assert {"lr", "optimizer", "accuracy"} <= set(shown)  # an axis each
    assert {"sgd", "adam"} <= set(shown)  # categories named
    assert {"0.02", "0.04", "0.06", "0.08"} <= set(shown)  # values on the lr axis
    assert "accuracy (maximize)" in shown  # the colour scale's legend


def test_the_pictures_are_the_same_bytes_for_the_same_records() -> None:
    spec, record = example()
    assert result_files(spec, record, "dev") == result_files(spec, record, "dev")


def test_the_pictures_render_in_a_browser(tmp_path: Path) -> None:
    """Each picture as Chromium draws it, kept in .test-artifacts/ for a person: the
    page is not blank, has dark ink and colour, on an opaque light background."""
    spec, record = example()
    files = result_files(spec, record, "dev")
    for name in ("objective", "curves", "parallel"):
        path = tmp_path / f"summary-example-{name}.svg"
        path.write_text(files[path.name], encoding="utf-8")
        png = browser.screenshot(path.as_uri(), f"summary-{name}", size=(800, 400))
        image = Image.open(png).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # drawn, not blank
        commonest = max(colours)[1]
        assert min(commonest) > 240  # the background is white
        assert any(sum(rgb) < 150 for _, rgb in colours)  # dark ink: text, axes
        assert any(max(rgb) - min(rgb) > 100 for _, rgb in colours)  # colour: the data


def test_a_run_without_values_still_draws() -> None:
    spec, record = example()
    record.trials = [TrialRecord("t-1", (("lr", "0.02"), ("optimizer", "sgd")), TrialState.RUNNING)]
    files = result_files(spec, record, "dev")
    for name in ("objective", "curves", "parallel"):
        assert "no trial has reported a value yet" in texts_of(files[f"summary-example-{name}.svg"])
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


hostile = st.one_of(
    texts, st.sampled_from(["$\\frac$", "$x^2$", "a|b", "<b>x</b>", "`x`", "&amp;"])
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(hostile, hostile, st.lists(numbers, max_size=4), st.sampled_from(TrialState)),
        max_size=6,
    )
)
def test_any_records_give_a_summary_and_pictures_that_parse(
    rows: list[tuple[str, str, list[float], TrialState]],
) -> None:
    """Whatever the records hold (text that is TeX, HTML or table syntax, nan, inf, huge
    numbers, values outside the space): a summary whose table keeps its shape and
    pictures that are SVG, never an exception in the thread that commits."""
    spec, record = example()
    record.trials = [
        TrialRecord(
            name,
            (("lr", lr), ("optimizer", optimizer)),
            state,
            message=name,
            metrics=(
                MetricSummary("accuracy", min(values), max(values), values[-1], tuple(values)),
            )
            if values
            else (),
            log=optimizer,
        )
        for (name, (lr, optimizer), values, state) in [
            (f"t-{i}", (a, b), v, s) for i, (a, b, v, s) in enumerate(rows)
        ]
    ]
    files = result_files(spec, record, "dev")
    for name in ("objective", "curves", "parallel"):
        ElementTree.fromstring(files[f"summary-example-{name}.svg"])
    rows_shown = table_rows(files["summary-example.md"])
    assert len(rows_shown) == len(rows)
    assert all(len(row) == 10 for row in rows_shown)  # no value split a cell


def test_a_nas_experiment_shows_its_assignments_and_no_parameter_axes() -> None:
    spec, record = example()
    nas = spec.model_copy(update={"spec": spec.spec.model_copy(update={"parameters": None})})
    record.trials = [
        replace(t, assignments=(("architecture", f"[[{i}]]"), ("nn_config", "{}")))
        for i, t in enumerate(record.trials)
    ]
    files = result_files(nas, record, "dev")
    head = files["summary-example.md"].split("## Trials", 1)[1].splitlines()[2]
    assert "| architecture | nn\\_config |" in head
    assert table_rows(files["summary-example.md"])[0][5] == "\\[\\[1\\]\\]"  # t-2's
    shown = texts_of(files["summary-example-parallel.svg"])
    assert any(t.startswith("no search-space parameters") for t in shown)


def test_an_integer_parameter_s_axis_has_whole_ticks() -> None:
    _, record = example()
    space = SearchSpace(depth=integer(3, 18))
    deep = with_defaults(
        experiment(
            "summary-example",
            objective=maximize("accuracy"),
            algorithm=random_search(),
            parameters=space,
            max_trial_count=5,
            trial=job(container(image="t:1", command=["t"], args=space.cli_args())),
        )
    )
    record.trials = [
        replace(t, assignments=(("depth", str(depth)),))
        for t, depth in zip(record.trials, (3, 8, 18, 11, 5), strict=True)
    ]
    shown = texts_of(result_files(deep, record, "dev")["summary-example-parallel.svg"])
    ticks = [t for t in shown if t.replace(".", "", 1).isdigit()]
    depth_ticks = [t for t in ticks if float(t) >= 3 and float(t) <= 18 and "." not in t]
    assert len(depth_ticks) >= 2
    assert not [t for t in ticks if float(t) > 1.5 and "." in t]  # no 7.5 or 12.5
