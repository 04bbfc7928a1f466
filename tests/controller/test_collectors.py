"""Metrics collectors end to end: StdOut with Katib's default or a custom filter (lines
with RFC 3339 timestamps, Python logging lines), File in TEXT and JSON (numbers accepted,
unlike Katib), TensorFlowEvent from the event files PyTorch's SummaryWriter writes, and
Push through trainers.report_metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.metrics.collectors import compile_filters, parse_json_lines, parse_lines
from generator.files import yamlio
from tests.conftest import ProjectFactory, render_and_commit, run_cli

TRAIN = """\
import json, logging, sys

args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
x = float(args["x"])
mode = args["mode"]
values = [(1, 0.5 + x / 10), (2, 0.6 + x / 10)]
if mode == "stdout-timestamps":
    for epoch, accuracy in values:
        print(f"2024-05-01T12:00:0{epoch}Z epoch={epoch} accuracy={accuracy:.4f}")
elif mode == "logging":
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(message)s")
    for epoch, accuracy in values:
        logging.info("epoch %d: accuracy: %.4f", epoch, accuracy)
elif mode == "file-text":
    with open(args["metrics"], "a") as out:
        for epoch, accuracy in values:
            out.write(f"epoch={epoch} accuracy={accuracy:.4f}\\n")
elif mode == "file-json":
    with open(args["metrics"], "a") as out:
        for epoch, accuracy in values:
            out.write(json.dumps({"epoch": epoch, "accuracy": accuracy}) + "\\n")
        out.write("not json\\n")
elif mode == "push":
    from trainers import report_metrics
    for epoch, accuracy in values:
        report_metrics(epoch=epoch, accuracy=accuracy)
elif mode == "tfevent":
    from torch.utils.tensorboard import SummaryWriter
    with SummaryWriter(args["logdir"] + "/train") as writer:
        for epoch, accuracy in values:
            writer.add_scalar("accuracy", accuracy, epoch)
            writer.add_scalar("accuracy_top5", 1.0, epoch)  # not read as accuracy
"""

SPEC = """\
from generator import SearchSpace, container, double, experiment, job, maximize, random_search
from generator import file_collector, push_collector, stdout_collector
from generator import tensorflow_event_collector

space = SearchSpace(x=double(0.0, 1.0))
collected = experiment(
    "collected",
    objective=maximize("accuracy"),
    algorithm=random_search(random_state=1),
    parameters=space,
    max_trial_count=4,  # the last two may start from the standby, their files made ahead
    parallel_trial_count=2,
    metrics_collector={collector},
    trial=job(container(image="t:1", command=["python", "train.py"],
                        args=[*space.cli_args(), "--mode={mode}", {extra}])),
)
"""

CASES = {
    "stdout-timestamps": ("None", "'--x2=0'"),
    "logging": (r"stdout_collector([r'([\w|-]+):\s*([+-]?\d*(\.\d+)?)'])", "'--x2=0'"),
    "file-text": (
        "file_collector('/var/log/katib/metrics.log')",
        "'--metrics=/var/log/katib/metrics.log'",
    ),
    "file-json": (
        "file_collector('/var/log/katib/metrics.json', file_format='JSON')",
        "'--metrics=/var/log/katib/metrics.json'",
    ),
    "push": ("push_collector()", "'--x2=0'"),
    "tfevent": ("tensorflow_event_collector()", "'--logdir=/var/log/katib/tfevent/'"),
}


@pytest.mark.parametrize("mode", sorted(CASES))
def test_each_collector_reads_what_the_trial_reports(
    make_project: ProjectFactory, mode: str
) -> None:
    collector, extra = CASES[mode]
    spec = SPEC.format(collector=collector, mode=mode, extra=extra)
    root = make_project({"spec/collected.py": spec, "train.py": TRAIN})
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", "--cold", cwd=root)
    assert result.returncode == 0, result.stderr
    document = yamlio.load((root / "status/dev/collected.yaml").read_text())
    assert len(document["trials"]) == 4
    for trial in document["trials"]:
        assert trial["state"] == "Succeeded", trial
        x = float(trial["parameterAssignments"][0]["value"])
        [accuracy] = trial["metrics"]
        assert accuracy["latest"] == pytest.approx(0.6 + x / 10, abs=1e-4)
        assert accuracy["min"] == pytest.approx(0.5 + x / 10, abs=1e-4)
        if mode == "file-json":
            assert trial["message"] == "1 metrics lines were not JSON objects and were skipped"
    if mode.startswith("file") or mode == "tfevent":  # each trial wrote its own, not the pod's
        assert not Path("/var/log/katib").exists()


def test_json_lines_take_numbers_and_numeric_strings() -> None:
    values, skipped = parse_json_lines(
        ['{"accuracy": 0.5, "loss": "0.25"}', "[1, 2]", "", '{"accuracy": "nan", "loss": true}'],
        ["accuracy", "loss"],
    )
    assert values["accuracy"][0] == 0.5 and values["loss"] == [0.25]
    assert str(values["accuracy"][1]) == "nan"
    assert skipped == 1


def test_rfc3339_and_logging_lines_match_the_default_filter() -> None:
    lines = [
        "2024-05-01T12:00:00.123456Z accuracy=0.91",
        "2024-05-01 12:00:00,123 INFO accuracy=0.92",
    ]
    assert parse_lines(lines, ["accuracy"], compile_filters(None)) == {"accuracy": [0.91, 0.92]}


def test_a_value_a_filter_captures_as_text_is_kept_as_katib_keeps_it(tmp_path: Path) -> None:
    from controller.metrics.collectors import Collector, collector_for
    from generator import stdout_collector

    output = tmp_path / "out.log"
    output.write_text(
        "epoch=1 accuracy=0.5\nBest-Genotype=Genotype(normal=[[('a',0)]])\n"
        "Best-Genotype=Genotype(normal=[[('b',1)]])\naccuracy=0.75\n"
    )
    formats = [
        r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)",
        r"(Best-Genotype)=(Genotype.*)",
    ]
    collector: Collector = collector_for(stdout_collector(formats), ["accuracy", "Best-Genotype"])
    summaries, _ = collector.summaries(output, None)
    accuracy, genotype = summaries
    assert (accuracy.latest, accuracy.text) == (0.75, None)
    assert (genotype.name, genotype.text) == ("Best-Genotype", "Genotype(normal=[[('b',1)]])")
    assert genotype.values == () and genotype.latest != genotype.latest  # nan: no number
    assert genotype.shown() == "Genotype(normal=[[('b',1)]])"
    # the default filter alone reads no text: the genotype is not reported
    plain, _ = collector_for(None, ["Best-Genotype"]).summaries(output, None)
    assert plain == ()
    pushed = tmp_path / "metrics.json"
    pushed.write_text('{"accuracy": "0.5", "genotype": "G(1)"}\nnot json\n')
    json_collector = Collector("Push", "JSON", (), ("accuracy", "genotype"))
    summaries, note = json_collector.summaries(output, pushed)
    assert [s.text for s in summaries] == [None, "G(1)"] and "1 metrics lines" in note
