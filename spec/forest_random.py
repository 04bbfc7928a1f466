"""Random search over a random forest's size and depth, cross-validated on digits."""

from generator import SearchSpace, experiment, integer, maximize, random_search
from spec.trainers import forest_trial

space = SearchSpace(
    n_estimators=integer(50, 200, description="Trees in the forest"),
    max_depth=integer(5, 20, description="Depth limit of each tree"),
)

forest_random_search = experiment(
    "forest-random-search",
    objective=maximize("accuracy", additional_metrics=["accuracy-std"]),
    algorithm=random_search(random_state=7),
    parameters=space,
    max_trial_count=20,
    parallel_trial_count=4,
    max_failed_trial_count=3,
    trial=forest_trial(*space.cli_args(), "--dataset=digits", "--folds=3"),
)
