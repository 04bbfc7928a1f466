"""Random search with medianstop early stopping: from the third epoch on, a trial whose
best accuracy so far is below the median of the succeeded trials' running averages at the
same epoch is stopped. The learning rate spans nearly three decades, so the slow learners are
stopped early. A small CNN, so that an epoch takes long enough for the rule to act while
the trial runs. The trainer's lines are read with a filter of their own rather than
Katib's default."""

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

space = SearchSpace(lr=double(0.0001, 0.05, distribution="logUniform"), momentum=double(0.0, 0.9))

median_stop_search = experiment(
    "katib-median-stop",
    objective=maximize("accuracy", additional_metrics=["loss"]),
    algorithm=random_search(random_state=3),
    early_stopping=median_stop(min_trials_required=3, start_step=3),
    metrics_collector=stdout_collector([r"(accuracy|loss)=([+-]?\d*\.?\d+(?:[eE][+-]?\d+)?)"]),
    parameters=space,
    max_trial_count=10,
    parallel_trial_count=2,
    trial=mnist_trial(
        *space.cli_args(), "--model=cnn", "--optimizer=sgd", "--epochs=8", "--threads=1"
    ),
)
