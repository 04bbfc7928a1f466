"""Random search over an MLP's learning rate and batch size on handwritten digits."""

from generator import SearchSpace, categorical, double, experiment, maximize, random_search
from spec.trainers import mnist_trial

space = SearchSpace(
    lr=double(0.01, 0.05, description="Learning rate of the optimizer"),
    batch_size=categorical([32, 64, 128], description="Examples per training step"),
)

random_search_mnist = experiment(
    "katib-random-search-mnist",
    objective=maximize("accuracy", goal=0.99, additional_metrics=["loss"]),
    algorithm=random_search(),
    parameters=space,
    max_trial_count=9,
    parallel_trial_count=3,
    max_failed_trial_count=3,
    trial=mnist_trial(
        *space.cli_args(),
        "--model=mlp",
        "--optimizer=sgd",
        "--momentum=0.9",
        "--epochs=5",
        limits=True,
    ),
)
