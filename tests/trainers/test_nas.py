"""trainers.nas: the ENAS child network built from Katib's `architecture` and `nn_config`
(as Katib passes them, quoted for its shell or not), the DARTS search reporting accuracy and
genotype each epoch and the best genotype at the end, data from the digits, MNIST or
CIFAR-10, and bad arguments ending the trial with exit 1 and a message naming the fault."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from controller.metrics.collectors import compile_filters, parse_lines
from generator import SearchSpace, categorical, integer, nas_config, operation
from generator.katib.models import GraphConfig
from generator.katib.nas import choices, darts_assignments, enas_assignments
from trainers import datasets, nas
from trainers.enas_child import ChildNetwork, concat, parse, read_json

OPERATIONS = (
    nas_config(
        operations=[
            operation(
                "convolution",
                SearchSpace(
                    filter_size=categorical(["3", "5"]),
                    num_filter=categorical(["8", "16"]),
                    stride=categorical(["1", "2"]),
                ),
            ),
            operation(
                "separable_convolution",
                SearchSpace(
                    filter_size=categorical(["3"]),
                    num_filter=categorical(["8"]),
                    depth_multiplier=categorical(["2"]),
                ),
            ),
            operation(
                "depthwise_convolution",
                SearchSpace(filter_size=categorical(["3"]), stride=categorical(["2"])),
            ),
            operation(
                "reduction",
                SearchSpace(
                    reduction_type=categorical(["max_pooling", "avg_pooling"]),
                    pool_size=integer(2, 3),
                ),
            ),
        ]
    ).operations
    or []
)
SPACE = choices(OPERATIONS)
WANTED = ["Training-Accuracy", "Training-Loss", "Validation-Accuracy", "Validation-Loss"]


def enas_args(
    layers: list[list[int]], sizes: tuple[int, int, int] = (8, 8, 1), quoted: bool = False
) -> list[str]:
    graph = GraphConfig(num_layers=len(layers), input_sizes=list(sizes), output_sizes=[10])
    values = dict(enas_assignments(layers, graph, SPACE))
    q = '"' if quoted else ""
    return [
        "enas",
        f"--architecture={q}{values['architecture']}{q}",
        f"--nn_config={q}{values['nn_config']}{q}",
    ]


def test_an_enas_child_trains_and_reports_katibs_four_metrics_each_epoch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    arc = [[0], [8, 1], [10, 0, 1], [9, 1, 1, 0]]  # conv, separable, reduction, depthwise
    assert nas.main([*enas_args(arc), "--num_epochs=2", "--batch-size=32"]) == 0
    values = parse_lines(capsys.readouterr().out.splitlines(), WANTED, compile_filters(None))
    assert all(len(values[name]) == 2 for name in WANTED)
    assert values["Training-Loss"][1] < values["Training-Loss"][0]
    assert values["Validation-Accuracy"][1] > 0.5


def test_katibs_shell_quoted_arguments_and_32x32x3_inputs_run_on_the_digits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        nas.main([*enas_args([[3], [11, 1]], sizes=(32, 32, 3), quoted=True), "--num_epochs=1"])
        == 0
    )
    captured = capsys.readouterr()
    assert "fitted to the network's 32x32x3" in captured.err
    assert "Validation-Accuracy=" in captured.out


def test_each_layer_takes_the_previous_layer_and_its_skips_padded_to_one_size() -> None:
    config = parse(
        read_json(enas_args([[2], [10, 1], [0, 1, 1]])[1].split("=", 1)[1], "a"),
        read_json(enas_args([[2], [10, 1], [0, 1, 1]])[2].split("=", 1)[1], "n"),
    )
    assert [layer.skips for layer in config.layers] == [(0,), (0, 1), (0, 1, 2)]
    # stride 2 (4x4) and the 8x8 input meet: padded to 8x8, channels stacked
    joined = concat([torch.ones(2, 3, 8, 8), torch.ones(2, 5, 4, 4)])
    assert joined.shape == (2, 8, 8, 8)
    assert joined[0, 3:, 0, 0].sum() == 0 and joined[0, 3:, 2, 2].sum() == 5
    network = ChildNetwork(config)
    assert network(torch.zeros(4, 1, 8, 8)).shape == (4, 10)


def test_the_operations_parameters_apply_where_katibs_trial_image_drops_them() -> None:
    config = parse(
        [[1]],
        {
            "num_layers": 1,
            "input_sizes": [8, 8, 1],
            "output_sizes": [10],
            "embedding": {"1": SPACE[1].as_dict()},
        },
    )
    network = ChildNetwork(config)
    conv = network.operations[0].body
    assert isinstance(conv, torch.nn.Conv2d)
    assert (conv.out_channels, conv.kernel_size, conv.stride) == (8, (3, 3), (2, 2))


def config(entry: dict[str, object] | None = None, **changes: object) -> str:
    """An nn_config in Katib's wire text: one layer, operation 0 as `entry`."""
    document: dict[str, object] = {
        "num_layers": 1,
        "input_sizes": [8, 8, 1],
        "output_sizes": [10],
        "embedding": {"0": entry} if entry is not None else {},
    }
    return json.dumps(document | changes).replace('"', "'")


CONV = {"opt_type": "convolution"}


@pytest.mark.parametrize(
    ("architecture", "nn_config", "message"),
    [
        ("[[0]", "{}", "architecture is not JSON"),
        (
            "[[0]]",
            config(CONV, input_sizes=[8, 8]),
            r"input_sizes must be \[height, width, channels\]",
        ),
        (
            "[[0], [0]]",
            config(CONV, num_layers=2),
            r"architecture\[1\] must be \[operation id, then 1 skip",
        ),
        ("[[4]]", config(CONV), "operation 4 is not in nn_config.embedding"),
        (
            "[[0]]",
            config({"opt_type": "attention"}),
            "'attention' is not an operation these trainers build",
        ),
        (
            "[[0]]",
            config({**CONV, "opt_params": {"num_filter": "many"}}),
            "num_filter must be a whole number",
        ),
        (
            "[[0]]",
            config({**CONV, "opt_params": {"filter_size": 10**5}}),
            r"filter_size must be in \[1, 4096\]",
        ),
        (
            "[[0]]",
            config({"opt_type": "reduction"}, output_sizes=[2]),
            "output_sizes ends in 2 but the data has 10 classes",
        ),
        ("[[0, 1]]", config(CONV), r"architecture\[0\] must be \[operation id, then 0 skip"),
        ("[[0]]", config(CONV, embedding=[]), "embedding must be an object"),
    ],
)
def test_bad_architecture_json_ends_the_trial_with_a_message_naming_the_fault(
    capsys: pytest.CaptureFixture[str], architecture: str, nn_config: str, message: str
) -> None:
    assert (
        nas.main(
            ["enas", f"--architecture={architecture}", f"--nn_config={nn_config}", "--num_epochs=1"]
        )
        == 1
    )
    assert re.search(message, capsys.readouterr().err)


DARTS_OPERATIONS = (
    nas_config(
        operations=[
            operation("separable_convolution", SearchSpace(filter_size=categorical(["3"]))),
            operation("max_pooling", SearchSpace(filter_size=categorical(["3"]))),
            operation("skip_connection"),
        ]
    ).operations
    or []
)


def darts_args(
    settings: list[tuple[str, str]], primitives: str | None = None, layers: int = 2
) -> list[str]:
    values = dict(darts_assignments(settings, DARTS_OPERATIONS, layers))
    return [
        "darts",
        f"--algorithm-settings={values['algorithm-settings']}",
        f"--search-space={primitives or values['search-space']}",
        f"--num-layers={values['num-layers']}",
    ]


SMALL = [
    ("num_epochs", "2"),
    ("num_nodes", "2"),
    ("init_channels", "4"),
    ("stem_multiplier", "1"),
    ("batch_size", "64"),
    ("alpha_lr", "0.003"),
]


def test_darts_reports_accuracy_and_genotype_each_epoch_and_the_best_genotype(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert nas.main(darts_args(SMALL)) == 0
    out = capsys.readouterr().out
    values = parse_lines(out.splitlines(), ["Validation-Accuracy"], compile_filters(None))
    assert len(values["Validation-Accuracy"]) == 2
    genotypes = re.findall(r"^Genotype=(.*)$", out, re.MULTILINE)
    [best] = re.findall(r"^Best-Genotype=(Genotype.*)$", out, re.MULTILINE)
    assert len(genotypes) == 2 and best in genotypes
    # two nodes, each keeping its two strongest edges, never `none`; a reduction cell too
    assert re.fullmatch(
        r"Genotype\(normal=\[(\[\('[a-z_0-9x]+',\d\),\('[a-z_0-9x]+',\d\)\],?){2}\],normal_concat=range\(2,4\),"
        r"reduce=\[(\[\('[a-z_0-9x]+',\d\),\('[a-z_0-9x]+',\d\)\],?){2}\],reduce_concat=range\(2,4\)\)",
        best,
    )
    assert "none" not in best


def test_katibs_darts_example_runs_with_its_own_quoted_assignments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = dict(
        darts_assignments(
            [
                ("num_epochs", "1"),
                ("num_nodes", "1"),
                ("init_channels", "1"),
                ("stem_multiplier", "1"),
            ],
            DARTS_OPERATIONS[1:2],
            1,
        )
    )
    args = ["darts", *(f'--{name}="{value}"' for name, value in values.items())]
    assert nas.main(args) == 0
    assert (
        "Best-Genotype=Genotype(normal=[[('max_pooling_3x3',0),('max_pooling_3x3',1)]]"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            darts_args(SMALL, primitives="['conv_4x4']"),
            "primitive 'conv_4x4' is not one these trainers build",
        ),
        (
            darts_args(SMALL, primitives="['max_pooling_3x3', 'transformer']"),
            "'transformer' is not one",
        ),
        (darts_args(SMALL, primitives="[]"), "non-empty list of primitive names"),
        (darts_args([("w_lr", "fast")]), "w_lr must be a number, not 'fast'"),
        (darts_args([("num_nodes", "0")]), "must be at least 1"),
        (darts_args(SMALL, layers=0), "must be at least 1"),
    ],
)
def test_bad_darts_arguments_end_the_trial_with_a_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert nas.main(args) == 1
    assert message in capsys.readouterr().err


def write_cifar(path: Path, labels: list[int]) -> None:
    rng = np.random.default_rng(0)
    rows = [
        bytes([label]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for label in labels
    ]
    path.write_bytes(b"".join(rows))


def test_cifar10_binary_batches_are_read_and_bad_ones_refused(tmp_path: Path) -> None:
    write_cifar(tmp_path / "data_batch_1.bin", [0, 9, 3])
    write_cifar(tmp_path / "test_batch.bin", [1, 2])
    split = datasets.from_dir(tmp_path)
    assert split.train_x.shape == (3, 3, 32, 32) and split.valid_x.shape == (2, 3, 32, 32)
    assert split.train_y.tolist() == [0, 9, 3]
    assert float(split.train_x.min()) >= 0.0 and float(split.train_x.max()) <= 1.0
    (tmp_path / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(datasets.DataError, match="not a whole number of CIFAR-10 records"):
        datasets.from_dir(tmp_path)
    write_cifar(tmp_path / "test_batch.bin", [12])
    with pytest.raises(datasets.DataError, match="CIFAR-10 labels are 0-9"):
        datasets.from_dir(tmp_path)


def test_an_enas_child_trains_on_cifar10_shaped_data_from_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_cifar(tmp_path / "data_batch_1.bin", list(range(10)) * 3)
    write_cifar(tmp_path / "test_batch.bin", list(range(10)))
    args = enas_args([[0], [12, 1]], sizes=(32, 32, 3))
    assert nas.main([*args, "--num_epochs=1", f"--data-dir={tmp_path}"]) == 0
    captured = capsys.readouterr()
    assert "fitted" not in captured.err and "Validation-Accuracy=" in captured.out
