"""Population based training of the MLP: each trial trains one more epoch from its
parent's checkpoint with perturbed or copied hyperparameters. Katib mounts each trial's
checkpoint folder at `suggestion_trial_dir`; hpo-controller gives each local trial its own
folder there, a copy of its parent's."""

from generator import SearchSpace, double, experiment, maximize, pbt
from spec.trainers import mnist_trial

CHECKPOINTS = "/var/log/katib/checkpoints"
space = SearchSpace(lr=double(0.002, 0.1, step=0.002), momentum=double(0.0, 0.95, step=0.05))

pbt_search = experiment(
    "katib-pbt",
    objective=maximize("accuracy", goal=0.99, additional_metrics=["loss"]),
    algorithm=pbt(
        suggestion_trial_dir=CHECKPOINTS,
        n_population=5,
        truncation_threshold=0.4,
        random_state=1,
    ),
    parameters=space,
    max_trial_count=20,
    parallel_trial_count=3,
    max_failed_trial_count=3,
    resume_policy="FromVolume",
    trial=mnist_trial(
        *space.cli_args(),
        "--model=mlp",
        "--optimizer=sgd",
        "--epochs=1",
        f"--checkpoint-dir={CHECKPOINTS}",
    ),
)
