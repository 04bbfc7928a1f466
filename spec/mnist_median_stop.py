"""Random search with medianstop early stopping: trials whose accuracy stays below the
finished trials' early average from the fifth epoch on are stopped. The trainer's lines
are read with a filter of their own rather than Katib's default."""

from generator import (
    SearchSpace,
    double,
    experiment,
    maximize,
    median_stop,
    random_search,
    stdout_collector,
)
from spec.trainers import mnist_trial

space = SearchSpace(lr=double(0.001, 0.05), momentum=double(0.0, 0.9))

median_stop_search = experiment(
    "katib-median-stop",
    objective=maximize("accuracy", additional_metrics=["loss"]),
    algorithm=random_search(random_state=3),
    early_stopping=median_stop(min_trials_required=3, start_step=5),
    metrics_collector=stdout_collector([r"(accuracy|loss)=([+-]?\d*\.?\d+(?:[eE][+-]?\d+)?)"]),
    parameters=space,
    max_trial_count=10,
    parallel_trial_count=2,
    trial=mnist_trial(*space.cli_args(), "--model=mlp", "--optimizer=sgd", "--epochs=10"),
)
