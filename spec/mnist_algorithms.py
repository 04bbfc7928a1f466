"""The same MLP search with each of Katib's other hyperparameter algorithms."""

from generator import (
    SearchSpace,
    categorical,
    cmaes,
    double,
    experiment,
    hyperband,
    integer,
    maximize,
    multivariate_tpe,
    sobol,
    tpe,
)
from generator import grid as grid_search
from spec.trainers import mnist_trial

space = SearchSpace(
    lr=double(0.005, 0.05, distribution="logUniform"),
    momentum=double(0.5, 0.9),
    hidden_size=integer(32, 256),
)
grid_space = SearchSpace(lr=double(0.01, 0.05, step=0.02), batch_size=categorical([32, 128]))


def mnist_search(name: str, algorithm, parameters: SearchSpace = space, trials: int = 8):  # type: ignore[no-untyped-def]
    return experiment(
        name,
        objective=maximize("accuracy", goal=0.99, additional_metrics=["loss"]),
        algorithm=algorithm,
        parameters=parameters,
        max_trial_count=trials,
        parallel_trial_count=2,
        max_failed_trial_count=2,
        trial=mnist_trial(*parameters.cli_args(), "--model=mlp", "--optimizer=sgd", "--epochs=4"),
    )


tpe_search = mnist_search("katib-tpe", tpe(random_state=1))
multivariate_tpe_search = mnist_search(
    "katib-multivariate-tpe", multivariate_tpe(random_state=2, n_startup_trials=4)
)
cmaes_search = mnist_search("katib-cmaes", cmaes(random_state=1, sigma=0.3))
sobol_search = mnist_search("katib-sobol", sobol())
grid_experiment = mnist_search("katib-grid", grid_search(random_state=1), grid_space, trials=6)

hyperband_space = SearchSpace(
    lr=double(0.005, 0.05), momentum=double(0.5, 0.9), epochs=integer(1, 9)
)
hyperband_search = experiment(
    "katib-hyperband",
    objective=maximize("accuracy", goal=0.99, additional_metrics=["loss"]),
    algorithm=hyperband(resource_name="epochs", r_l=9, eta=3, random_state=4),
    parameters=hyperband_space,
    parallel_trial_count=9,
    max_failed_trial_count=3,
    trial=mnist_trial(*hyperband_space.cli_args(), "--model=mlp", "--optimizer=sgd"),
)
