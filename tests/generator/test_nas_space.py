"""The NAS search space as Katib's services expand it, and the assignments in Katib's
wire text: enas choices numbered as Katib numbers them, architectures that read back as
written, darts values identical to what Katib's service gives for its own example."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from generator import SearchSpace, categorical, discrete, double, integer, nas_config, operation
from generator.files import yamlio
from generator.katib.models import Experiment, GraphConfig
from generator.katib.nas import (
    architecture_of,
    choice_count,
    choices,
    darts_assignments,
    enas_assignments,
    wire,
)

NAS_EXAMPLES = Path(__file__).resolve().parent.parent / "katib" / "examples" / "nas"


def example(name: str) -> Experiment:
    [document] = yamlio.load_all((NAS_EXAMPLES / name).read_text())
    return Experiment.model_validate(document)


def test_katibs_enas_example_expands_to_one_choice_per_combination_in_katibs_order() -> None:
    operations = example("enas-cpu.yaml").spec.nas_config.operations  # type: ignore[union-attr]
    space = choices(operations)
    # convolution 3*5*2, separable 3*5*2*2, depthwise 3*2*2, reduction 2*2 (pool 2..3)
    assert len(space) == 30 + 60 + 12 + 4 == choice_count(operations)
    assert [c.opt_id for c in space] == list(range(106))
    assert space[0].as_dict() == {
        "opt_id": 0,
        "opt_type": "convolution",
        "opt_params": {"filter_size": "3", "num_filter": "32", "stride": "1"},
    }
    assert dict(space[1].opt_params)["stride"] == "2"  # the last parameter varies fastest
    assert space[-1].as_dict()["opt_params"] == {"reduction_type": "avg_pooling", "pool_size": 3}


def test_discrete_and_double_parameters_are_expanded_where_katib_drops_or_fails_them() -> None:
    ops = nas_config(
        operations=[
            operation(
                "dropout",
                SearchSpace(rate=double(0.1, 0.3, step=0.1), width=discrete([16, 32.5])),
            ),
            operation("convolution", SearchSpace(stride=integer(1, 5, step=2))),
        ]
    ).operations
    space = choices(ops or [])
    assert [dict(c.opt_params) for c in space] == [
        {"rate": 0.1, "width": 16},
        {"rate": 0.1, "width": 32.5},
        {"rate": 0.2, "width": 16},
        {"rate": 0.2, "width": 32.5},
        {"rate": 0.3, "width": 16},
        {"rate": 0.3, "width": 32.5},
        {"stride": 1},
        {"stride": 3},
        {"stride": 5},
    ]


def test_enas_assignments_are_katibs_json_with_single_quotes_and_the_used_choices() -> None:
    operations = example("enas-cpu.yaml").spec.nas_config.operations  # type: ignore[union-attr]
    space = choices(operations)
    graph = GraphConfig(num_layers=3, input_sizes=[32, 32, 3], output_sizes=[10])
    assignments = dict(enas_assignments([[5], [105, 1], [5, 0, 1]], graph, space))
    assert assignments["architecture"] == "[[5], [105, 1], [5, 0, 1]]"
    config = json.loads(assignments["nn_config"].replace("'", '"'))
    assert '"' not in assignments["nn_config"]
    assert config["num_layers"] == 3
    assert config["input_sizes"] == [32, 32, 3] and config["output_sizes"] == [10]
    assert list(config["embedding"]) == ["5", "105"]  # in the order the layers use them
    assert config["embedding"]["105"]["opt_type"] == "reduction"


@given(st.data())
def test_an_architecture_reads_back_as_written(data: st.DataObject) -> None:
    layers_count = data.draw(st.integers(1, 8))
    width = data.draw(st.integers(1, 50))
    layers = [
        [
            data.draw(st.integers(0, width - 1)),
            *data.draw(st.lists(st.sampled_from([0, 1]), min_size=i, max_size=i)),
        ]
        for i in range(layers_count)
    ]
    text = wire(layers)
    assert architecture_of(text, layers_count, width) == layers


def test_darts_assignments_are_what_katibs_service_gives_its_example() -> None:
    spec = example("darts-cpu.yaml").spec
    nas = spec.nas_config
    assert nas is not None and spec.algorithm is not None
    settings = [(s.name, s.value) for s in spec.algorithm.algorithm_settings or []]
    assignments = dict(
        darts_assignments(settings, nas.operations or [], nas.graph_config.num_layers)  # type: ignore[union-attr]
    )
    # As Katib's get_algorithm_settings and get_search_space build them, then json.dumps
    # with the double quotes swapped.
    assert assignments["algorithm-settings"] == (
        "{'num_epochs': '1', 'w_lr': 0.025, 'w_lr_min': 0.001, 'w_momentum': 0.9, "
        "'w_weight_decay': 0.0003, 'w_grad_clip': 5.0, 'alpha_lr': 0.0003, "
        "'alpha_weight_decay': 0.001, 'batch_size': 128, 'num_workers': 4, "
        "'init_channels': '1', 'print_step': 50, 'num_nodes': '1', 'stem_multiplier': '1'}"
    )
    assert assignments["search-space"] == "['max_pooling_3x3']"
    assert assignments["num-layers"] == "1"


def test_darts_search_space_names_skip_connection_alone_and_sizes_from_the_first_parameter() -> (
    None
):
    ops = nas_config(
        operations=[
            operation("separable_convolution", SearchSpace(filter_size=categorical(["3", "5"]))),
            operation("skip_connection"),
        ]
    ).operations
    assignments = dict(darts_assignments([("w_lr", "None"), ("custom", "x")], ops or [], 2))
    assert assignments["search-space"] == (
        "['separable_convolution_3x3', 'separable_convolution_5x5', 'skip_connection']"
    )
    settings = json.loads(assignments["algorithm-settings"].replace("'", '"'))
    assert settings["w_lr"] is None and settings["custom"] == "x"  # unknown names pass through
