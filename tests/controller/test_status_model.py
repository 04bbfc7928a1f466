"""One status model: what the controller writes reads back as the same record through
`generator.katib.status`, and documents the controller wrote before still read."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.records import (
    Completion,
    ExperimentRecord,
    MetricSummary,
    TrialRecord,
    TrialState,
)
from controller.core.results import StatusWriter, status_file
from controller.core.status import record_from_document, status_document
from generator import (
    SearchSpace,
    container,
    double,
    experiment,
    job,
    maximize,
    random_search,
)
from generator.files import yamlio
from generator.katib.status import StatusDocument, TrialDocument, read_status

FIXTURES = Path(__file__).with_name("fixtures")
SPEC = experiment(
    "model",
    objective=maximize("accuracy"),
    algorithm=random_search(),
    parameters=SearchSpace(x=double(0.0, 1.0)),
    max_trial_count=50,
    trial=job(container(image="t:1", command=["python", "t.py"])),
)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
NUMBER = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def trials(draw: st.DrawFn) -> list[TrialRecord]:
    found = []
    for index in range(draw(st.integers(0, 6))):
        values = tuple(draw(st.lists(NUMBER, min_size=1, max_size=4)))
        metrics = tuple(
            MetricSummary(name, min(values), max(values), values[-1], values)
            for name in draw(st.lists(st.sampled_from(["accuracy", "loss"]), unique=True))
        )
        found.append(
            TrialRecord(
                f"model-{index + 1:04d}",
                tuple((name, draw(TEXT)) for name in ("x", "y")),
                state=draw(st.sampled_from(list(TrialState))),
                reason=draw(TEXT),
                message=draw(TEXT),
                metrics=metrics,
                start_time=draw(st.none() | st.just("2026-01-01T00:00:00.000001Z")),
                completion_time=draw(st.none() | st.just("2026-01-01T00:01:00Z")),
                exit_code=draw(st.none() | st.integers(-64, 255)),
                log=draw(st.none() | st.just(".hpo/logs/dev/model/x.log")),
                restarts=draw(st.integers(0, 3)),
                labels=tuple(draw(st.dictionaries(TEXT.filter(bool), TEXT, max_size=2)).items()),
            )
        )
    return found


@settings(max_examples=60, deadline=None)
@given(trials(), st.booleans())
def test_a_record_written_reads_back_equal(trial_list: list[TrialRecord], ended: bool) -> None:
    record = ExperimentRecord("model", "hpo-dev", trial_list, "2026-01-01T00:00:00Z")
    if ended:
        record.completion = Completion("Succeeded", "ExperimentMaxTrialsReached", "done")
        record.completion_time = "2026-01-02T00:00:00Z"
    for text in (
        status_file(SPEC, record, "dev")["model.yaml"],
        StatusWriter(SPEC, "dev")(record)["model.yaml"],
    ):
        document = yamlio.load(text, data=True)
        back = record_from_document(document)
        assert back.trials == record.trials
        assert (back.completion, back.completion_time) == (
            record.completion,
            record.completion_time,
        )
        assert (back.name, back.namespace, back.start_time) == (
            "model",
            "hpo-dev",
            record.start_time,
        )
        for trial in document["trials"]:  # each trial as the model has it, field for field
            assert (
                TrialDocument.model_validate(trial).model_dump(by_alias=True, exclude_unset=True)
                == trial
            )
    head = {k: v for k, v in status_document(SPEC, record, "dev").items() if k != "trials"}
    assert StatusDocument.model_validate(head | {"trials": []}).head() == head


def test_status_files_written_before_still_read() -> None:
    for path in sorted(FIXTURES.glob("status-*.yaml")):
        document = yamlio.load(path.read_text(), data=True)
        parsed = read_status(document)
        record = record_from_document(document)
        assert len(record.trials) == parsed.status.trials > 0
        assert record.completion is not None
