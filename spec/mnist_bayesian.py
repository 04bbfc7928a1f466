"""Bayesian optimization of the digit classifiers: an MLP's learning rate and momentum
(minimizing the training loss), and a CNN's learning rate, batch size and optimizer."""

from generator import (
    SearchSpace,
    bayesian_optimization,
    categorical,
    double,
    experiment,
    integer,
    maximize,
    minimize,
)
from spec.trainers import mnist_trial

simple_space = SearchSpace(lr=double(0.01, 0.05), momentum=double(0.5, 0.9))

bayesian_simple = experiment(
    "katib-bayesian-optimization-simple",
    objective=minimize("loss", goal=0.001, additional_metrics=["accuracy"]),
    algorithm=bayesian_optimization(random_state=10),
    parameters=simple_space,
    max_trial_count=12,
    parallel_trial_count=3,
    max_failed_trial_count=3,
    trial=mnist_trial(*simple_space.cli_args(), "--model=mlp", "--optimizer=sgd", "--epochs=5"),
)

cnn_space = SearchSpace(
    {
        "learning-rate": double(0.001, 0.1),
        "batch-size": integer(32, 128),
        "optimizer": categorical(["sgd", "adam", "rmsprop"]),
    }
)

bayesian_cnn = experiment(
    "katib-bayesian-optimization-cnn",
    objective=maximize("accuracy", goal=0.99, additional_metrics=["loss"]),
    algorithm=bayesian_optimization(random_state=10),
    parameters=cnn_space,
    max_trial_count=12,
    parallel_trial_count=3,
    max_failed_trial_count=6,
    trial=mnist_trial(
        f"--lr={cnn_space['learning-rate']}",
        f"--batch-size={cnn_space['batch-size']}",
        f"--optimizer={cnn_space['optimizer']}",
        "--model=cnn",
        "--num-layers=2",
        "--epochs=3",
    ),
)
