"""The fast YAML writer (`yamlio.dump(..., fast=True)`) writes ruamel's bytes: its own
writer for plain documents, ruamel for the rest, and never a different text."""

from __future__ import annotations

import io
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.files import yamlio

# Text like a status file's (names, reasons, times, numbers in strings), and text of any kind.
status_like = st.text(alphabet=string.ascii_letters + string.digits + " ._-/:+()'#", max_size=20)
keys = st.one_of(status_like, st.sampled_from(["y", "n", "on", "No", "null", "~", "name"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    status_like,
    st.text(max_size=10),
    st.sampled_from(["0o17", "1_000", "2026-11-23T06:23:24Z", ".5", "-1", "1e3", "Yes", "a b"]),
    st.sampled_from([".", "..", "...", "....x", ".hpo/x.log", ".inf", ".NaN", "./a", "-", "-a"]),
    st.sampled_from(["a:b", "1:20", "+1", "+x", "_", "a/b", "/tmp/x", "a.b", "x-", "1.", "1e"]),
    st.sampled_from(["sha256:0f9a", "a::b", "a:", "a:b:", "12:30:00", "1:2.5", "x:-1", "a:.b"]),
    st.sampled_from(["--lr=${trialParameters.lr}", "--a", "-", "--", "---", "---x", "-=", "-$"]),
    st.sampled_from(["-{x}", "--{x}", "-1", "-.5", "-.inf", "--1", "-1:30", "-0x1F", "-a:"]),
    st.sampled_from(["-1e3", "-_", "-.", "-..", "--.", "-y", "-n", "-$a:b", "--x=1:2", "-a}"]),
    st.text(alphabet="-=${}a1.:_ey", max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)
documents = st.dictionaries(keys, values, min_size=1, max_size=6)


def written_by_ruamel(document: dict[str, Any]) -> str:
    """ruamel's pure emitter: what rendered files are written with."""
    return yamlio.dump(document)


def written_by_libyaml(document: dict[str, Any]) -> str:
    """ruamel's C emitter, which the fast writer falls back to (it escapes characters
    beyond the Basic Multilingual Plane where the pure emitter does not)."""
    stream = io.StringIO()
    yamlio._writer(fast=True).dump(yamlio._plain(document), stream)
    return stream.getvalue()


@settings(max_examples=400)
@given(documents)
def test_the_fast_writer_writes_ruamels_bytes(document: dict[str, Any]) -> None:
    assert yamlio.dump(document, fast=True) == written_by_libyaml(document)
    try:
        own = yamlio._Plain().document(document)
    except yamlio.Unsure:
        return
    assert own == written_by_ruamel(document) == written_by_libyaml(document)
    assert yamlio.dump(document, "a header", fast=True) == yamlio.dump(document, "a header")


@settings(max_examples=200)
@given(documents)
def test_what_the_fast_writer_writes_reads_back(document: dict[str, Any]) -> None:
    read = yamlio.load(yamlio.dump(document, fast=True))
    assert yamlio.dump(read) == written_by_ruamel(document)


def test_a_status_document_takes_the_fast_way() -> None:
    trial = {
        "name": "mnist-0001",
        "state": "Succeeded",
        "reason": "TrialSucceeded",
        "message": "the trial exited 0 without reporting accuracy",
        "labels": {"pbt.suggestion.katib.kubeflow.org/generation": "1", "on": "yes"},
        "parameterAssignments": [
            {"name": "lr", "value": "0.0123"},
            {"name": "opt", "value": "sgd"},
        ],
        "metrics": [
            {"name": "loss", "min": 0.25, "max": 1e-05, "latest": float("nan"), "values": [1, 2.5]}
        ],
        "startTime": "2026-11-23T06:23:24.863035Z",
        "completionTime": None,
        "exitCode": -9,
        "log": ".hpo/logs/dev/mnist/mnist-0001.log",
        "restarts": 0,
        "empty": {},
        "none": [],
        "nested": [[1, [2, {"a": "b"}]], {"x": [{"y": True}]}],
    }
    own = yamlio._Plain().document({"trials": [trial]})
    assert own == written_by_ruamel({"trials": [trial]})
    head = {"experiment": "mnist", "specDigest": "sha256:83a9a28f7da36d92ec4711677", "trials": 1}
    assert yamlio._Plain().document(head) == written_by_ruamel(head)


@given(st.from_regex(yamlio._DECIMAL_OR_TIME, fullmatch=True))
def test_what_the_writer_takes_for_numbers_and_times_the_resolver_does_too(text: str) -> None:
    tag = yamlio._writer(True).resolver.resolve(yamlio.ScalarNode, text, (True, False))
    assert str(tag) != "tag:yaml.org,2002:str"


@given(st.from_regex(r"[0-9A-Za-z_./:+-]*/[0-9A-Za-z_./:+-]*", fullmatch=True))
def test_what_the_writer_takes_for_strings_because_of_a_slash_the_resolver_does_too(
    text: str,
) -> None:
    assert not yamlio._resolves_to_other_than_str(text)
    tag = yamlio._writer(True).resolver.resolve(yamlio.ScalarNode, text, (True, False))
    assert str(tag) == "tag:yaml.org,2002:str"


# Text of every kind a rendered file holds: multi-line texts (patches, scripts, templates)
# with and without final breaks, blank lines, leading or trailing spaces, tabs; flow
# indicators and punctuation; text past the fast writer's length limit.
line = st.text(
    alphabet=string.ascii_letters + string.digits + " =,;[]{}#:&*!|>'\"%@`-\t", max_size=12
)
multi_line = st.lists(line, min_size=2, max_size=5).map("\n".join)
rendered_text = st.one_of(
    multi_line,
    multi_line.map(lambda t: t + "\n"),
    multi_line.map(lambda t: t + "\n\n"),
    line,
    st.text(max_size=30),
    st.sampled_from(["Prune=confirm,Delete=confirm", "a;b", "/x;/y", "c[]/image", "x" * 1200]),
)
rendered_values = st.recursive(
    st.one_of(scalars, rendered_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)
rendered_documents = st.dictionaries(keys, rendered_values, min_size=1, max_size=6)


@settings(max_examples=500, deadline=None)
@given(rendered_documents)
def test_rendered_files_are_ruamels_pure_bytes(document: dict[str, Any]) -> None:
    assert yamlio.dump_rendered(document, "a header") == yamlio.dump(document, "a header")


@settings(max_examples=200, deadline=None)
@given(st.lists(rendered_values, min_size=1, max_size=5))
def test_a_rendered_sequence_is_ruamels_pure_bytes(items: list[Any]) -> None:
    stream = io.StringIO()
    yamlio._writer().dump(yamlio._plain(items), stream)
    assert yamlio.dump_sequence(items) == stream.getvalue()
