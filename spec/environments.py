"""Where the experiments run. `dev` runs every experiment on this machine, as local
processes, with the spec's budgets; `prod` runs the MNIST searches in a cluster through
hpo-controller's Deployment, with larger budgets, the released trainers image and trial
resources. Argo CD syncs `prod` from the repository `gitops` names."""

from generator import budget, environment, gitops, image, resources

repository = gitops("https://github.com/hpo-gen/hpo-gen.git", branch="main")

dev = environment(
    "dev",
    namespace="hpo-dev",
    experiments="*",
    executor="local",
    images=[image("hpo-gen-trainers", tag="dev")],
)

prod = environment(
    "prod",
    namespace="hpo",
    executor="cluster",
    experiments=["katib-random-search-mnist", "katib-tpe", "katib-bayesian-optimization-cnn"],
    budget=budget(max_failed_trial_count=4),
    budgets={
        "katib-random-search-mnist": budget(max_trial_count=40, parallel_trial_count=4),
        "katib-tpe": budget(max_trial_count=30),
    },
    images=[image("hpo-gen-trainers", new_name="ghcr.io/hpo-gen/trainers", tag="0.1.0")],
    resources=resources(requests={"cpu": "1", "memory": "2Gi"}, limits={"memory": "4Gi"}),
    labels={"team": "ml-platform"},
)
