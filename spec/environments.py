"""Where the experiments run: `dev` on this machine with local processes, `prod` on a
cluster with Katib-compatible Jobs."""

from generator import environment

dev = environment("dev", namespace="hpo-dev", executor="local")
prod = environment("prod", namespace="hpo", executor="kubernetes")
