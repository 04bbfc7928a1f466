"""The GJSON subset that decides when a trial's workload ended: every condition in Katib's
examples and its defaults, on the statuses the workloads really have, with GJSON's
semantics (a condition holds on an object or a non-empty array only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.files import yamlio
from generator.katib import gjson
from generator.katib.defaults import TRIAL_KIND_DEFAULTS
from generator.katib.models import Experiment
from generator.validation.admission import validate_experiment

EXAMPLES = Path(__file__).parent.parent / "katib" / "examples"


def conditions_in_examples() -> set[str]:
    found = set()
    for path in EXAMPLES.rglob("*.yaml"):
        for document in yamlio.load_all(path.read_text()):
            template = ((document or {}).get("spec") or {}).get("trialTemplate") or {}
            for key in ("successCondition", "failureCondition"):
                if template.get(key):
                    found.add(template[key])
    return found


def job(kind: str, status: str, reason: str = "") -> dict[str, Any]:
    return {"status": {"conditions": [
        {"type": "Created", "status": "True"},
        {"type": kind, "status": status, "reason": reason, "message": f"{kind} {reason}"},
    ]}}  # fmt: skip


def test_every_condition_of_katibs_examples_and_defaults_parses() -> None:
    every = conditions_in_examples() | {
        text for success, failure, _ in TRIAL_KIND_DEFAULTS.values() for text in (success, failure)
    }
    assert len(every) >= 6
    for text in every:
        assert gjson.parse(text).text == text


@pytest.mark.parametrize(
    ("condition", "document", "holds"),
    [
        # batch/v1 Job
        (
            'status.conditions.#(type=="Complete")#|#(status=="True")#',
            job("Complete", "True"),
            True,
        ),
        (
            'status.conditions.#(type=="Complete")#|#(status=="True")#',
            job("Complete", "False"),
            False,
        ),
        ('status.conditions.#(type=="Failed")#|#(status=="True")#', job("Complete", "True"), False),
        ('status.conditions.#(type=="Failed")#|#(status=="True")#', job("Failed", "True"), True),
        ('status.conditions.#(type=="Complete")#|#(status=="True")#', {"status": {}}, False),
        ('status.conditions.#(type=="Complete")#|#(status=="True")#', {}, False),
        # the Kubeflow jobs
        (
            'status.conditions.#(type=="Succeeded")#|#(status=="True")#',
            job("Succeeded", "True"),
            True,
        ),
        # Tekton: one condition, True or False
        (
            'status.conditions.#(type=="Succeeded")#|#(status=="False")#',
            job("Succeeded", "False"),
            True,
        ),
        (
            'status.conditions.#(type=="Succeeded")#|#(status=="False")#',
            job("Succeeded", "Unknown"),
            False,
        ),
        # Argo: the phase of the status object itself
        ('status.[@this].#(phase=="Succeeded")#', {"status": {"phase": "Succeeded"}}, True),
        ('status.[@this].#(phase=="Succeeded")#', {"status": {"phase": "Running"}}, False),
        ('status.[@this].#(phase=="Failed")#', {"status": {"phase": "Failed"}}, True),
        ('status.[@this].#(phase=="Failed")#', {}, False),
        # a first match is an object: it holds; a plain value does not
        ('status.conditions.#(type=="Complete")', job("Complete", "True"), True),
        ("status.succeeded", {"status": {"succeeded": 1}}, False),
        ("status.done", {"status": {"done": True}}, False),
        ("status", {"status": {"a": 1}}, True),
        ("status.items", {"status": {"items": []}}, False),
        # numbers, wildcards, like
        ("status.pods.#(ready>=2)#", {"status": {"pods": [{"ready": 1}, {"ready": 3}]}}, True),
        ("status.pods.#(ready>5)#", {"status": {"pods": [{"ready": 1}, {"ready": 3}]}}, False),
        ('status.conditions.#(type%"Compl*")#', job("Complete", "True"), True),
        ('status.conditions.#(type!%"Compl*")#', job("Complete", "True"), True),  # Created
        ("status.cond*.#(status)#", job("Complete", "True"), True),
    ],
)
def test_conditions_hold_as_katib_reads_them(
    condition: str, document: dict[str, Any], holds: bool
) -> None:
    assert gjson.holds(condition, document) is holds


def test_paths_select_what_gjson_selects() -> None:
    document = job("Complete", "True", "Done")
    assert gjson.evaluate("status.conditions.#", document) == 2
    assert gjson.evaluate("status.conditions.#.type", document) == ["Created", "Complete"]
    assert gjson.evaluate("status.conditions.1.reason", document) == "Done"
    assert gjson.evaluate('status.conditions.#(type=="Complete").reason', document) == "Done"
    assert gjson.evaluate("status.missing", document) is None
    assert gjson.evaluate(r"metadata.labels.a\.b", {"metadata": {"labels": {"a.b": "x"}}}) == "x"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "status..conditions",
        "status.",
        'status.#(type=="a"',
        'status.#(type=="a" && status=="b")',
        "status.@reverse",
        "status.#(type==unquoted)",
        "status.{a,b}",
        "status.[a",
    ],
)
def test_what_is_outside_the_subset_is_an_error_that_points_at_it(text: str) -> None:
    with pytest.raises(gjson.ConditionError):
        gjson.parse(text)


def test_validate_says_which_condition_cannot_be_evaluated() -> None:
    document = yamlio.load((EXAMPLES / "argo" / "argo-workflow.yaml").read_text())
    document["spec"]["trialTemplate"]["successCondition"] = "status.@reverse"
    _, problems = validate_experiment(Experiment.model_validate(document))
    found = [p for p in problems if p.code == "trial-template-condition"]
    assert [p.path for p in found] == [("spec", "trialTemplate", "successCondition")]
    assert "modifier" in found[0].message


@given(
    st.lists(st.sampled_from(["Complete", "Failed", "Running"]), max_size=4),
    st.lists(st.sampled_from(["True", "False"]), min_size=4, max_size=4),
)
def test_a_filter_holds_exactly_when_some_condition_matches_both_terms(
    types: list[str], statuses: list[str]
) -> None:
    conditions = [{"type": t, "status": s} for t, s in zip(types, statuses, strict=False)]
    document = {"status": {"conditions": conditions}}
    expected = any(c == {"type": "Complete", "status": "True"} for c in conditions)
    assert (
        gjson.holds('status.conditions.#(type=="Complete")#|#(status=="True")#', document)
        is expected
    )
