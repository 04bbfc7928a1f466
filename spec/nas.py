"""Neural architecture search on the bundled digits. `katib-enas` is Katib's ENAS example
sized for 8x8 images: 8 layers, each a convolution (3/5/7 wide, 32-128 filters, stride 1
or 2) or a max- or average-pooling reduction, with skip connections, chosen by the LSTM
controller from the trials' validation accuracy. `katib-darts` runs one DARTS search of a
small supernet and reports the genotype it finds (a metric whose value is text, as in
Katib's DARTS example). Epochs are scaled down for a laptop,
the search spaces are not."""

from generator import (
    SearchSpace,
    categorical,
    darts,
    enas,
    experiment,
    integer,
    maximize,
    nas_config,
    operation,
    stdout_collector,
)
from spec.trainers import nas_trial

enas_search = experiment(
    "katib-enas",
    objective=maximize("Validation-Accuracy"),
    algorithm=enas(
        controller_hidden_size=64,
        controller_temperature=5.0,
        controller_tanh_const=2.25,
        controller_entropy_weight=1e-5,
        controller_learning_rate=0.01,
        controller_baseline_decay=0.9,
        controller_train_steps=20,
    ),
    nas_config=nas_config(
        num_layers=8,
        input_sizes=[8, 8, 1],
        output_sizes=[10],
        operations=[
            operation(
                "convolution",
                SearchSpace(
                    filter_size=categorical(["3", "5", "7"]),
                    num_filter=categorical(["32", "48", "64", "96", "128"]),
                    stride=categorical(["1", "2"]),
                ),
            ),
            operation(
                "reduction",
                SearchSpace(
                    reduction_type=categorical(["max_pooling", "avg_pooling"]),
                    pool_size=integer(2, 3),
                ),
            ),
        ],
    ),
    max_trial_count=6,
    parallel_trial_count=2,
    max_failed_trial_count=2,
    trial=nas_trial("enas", "--num_epochs=2", "--batch-size=32"),
)

darts_search = experiment(
    "katib-darts",
    objective=maximize(
        "Validation-Accuracy", additional_metrics=["Validation-Loss", "Best-Genotype"]
    ),
    # Katib's default filter for the numbers, and its DARTS example's for the genotype.
    metrics_collector=stdout_collector(
        [r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)", r"(Best-Genotype)=(Genotype.*)"]
    ),
    algorithm=darts(
        num_epochs=2,
        num_nodes=2,
        init_channels=4,
        stem_multiplier=1,
        batch_size=64,
        alpha_lr=0.003,
    ),
    nas_config=nas_config(
        num_layers=2,
        operations=[
            operation("separable_convolution", SearchSpace(filter_size=categorical(["3", "5"]))),
            operation("dilated_convolution", SearchSpace(filter_size=categorical(["3"]))),
            operation("max_pooling", SearchSpace(filter_size=categorical(["3"]))),
            operation("avg_pooling", SearchSpace(filter_size=categorical(["3"]))),
            operation("skip_connection"),
        ],
    ),
    max_trial_count=1,
    parallel_trial_count=1,
    max_failed_trial_count=1,
    trial=nas_trial("darts"),
)
