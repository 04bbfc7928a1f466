"""A Kubeflow Pipelines v2 pipeline: the best hyperparameters of an experiment that
hpo-controller ran (read from the results in the team's repository) feed the training of
the final model.

    python pipelines/tune_then_train.py --compile tune_then_train.yaml   # for a KFP cluster
    python pipelines/tune_then_train.py --local --repository URL         # here, kfp.local

The first step is hpo-gen's `best_hyperparameters` component (hpo-gen alone, no torch);
the second trains `trainers.mnist` in the trainers image with the best trial's
`--name=value` arguments and reports its validation accuracy. `--local` runs both as
processes of this Python (`kfp.local` with its subprocess runner), which then needs
hpo-gen with its trainers: `pip install 'hpo-gen[pipelines,trainers]'`."""

import argparse
import sys

from kfp import compiler, dsl, local

from generator.kfp_components import best_hyperparameters_op

TRAINERS_IMAGE = "hpo-gen-trainers:0.1.0"


@dsl.component(base_image=TRAINERS_IMAGE)
def train_final_model(arguments: list, epochs: int, model: dsl.Output[dsl.Model]) -> float:
    """Train the MNIST classifier with the best arguments for `epochs` epochs, keep it as
    the model artifact, and return its last validation accuracy."""
    import re
    import subprocess
    import sys

    command = [sys.executable, "-m", "trainers.mnist", *arguments, f"--epochs={epochs}"]
    command.append(f"--checkpoint-dir={model.path}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    print(done.stdout, end="")
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(done.returncode)
    found = re.findall(r"accuracy=([0-9.]+)", done.stdout)
    if not found:
        raise SystemExit("the trainer reported no accuracy")
    return float(found[-1])


@dsl.pipeline(
    name="tune-then-train",
    description="The best hyperparameters of an hpo-gen experiment into the final training.",
)
def tune_then_train(
    repository: str,
    experiment: str = "katib-random-search-mnist",
    environment: str = "dev",
    revision: str = "",
    wait_seconds: int = 0,
    epochs: int = 5,
) -> float:
    best = best_hyperparameters_op()(
        repository=repository,
        experiment=experiment,
        environment=environment,
        revision=revision,
        wait_seconds=wait_seconds,
    )
    trained = train_final_model(arguments=best.outputs["arguments"], epochs=epochs)
    return trained.outputs["Output"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--compile", metavar="FILE", help="write the pipeline's YAML")
    what.add_argument("--local", action="store_true", help="run it here with kfp.local")
    parser.add_argument("--repository", help="the git repository holding status/")
    parser.add_argument("--experiment", default="katib-random-search-mnist")
    parser.add_argument("--environment", default="dev")
    parser.add_argument("--revision", default="")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pipeline-root", default="./.kfp-local", help="kfp.local's outputs")
    args = parser.parse_args(argv)
    if args.compile:
        compiler.Compiler().compile(tune_then_train, args.compile)
        print(f"wrote {args.compile}")
        return 0
    if not args.repository:
        parser.error("--local needs --repository")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=args.pipeline_root)
    run = tune_then_train(
        repository=args.repository,
        experiment=args.experiment,
        environment=args.environment,
        revision=args.revision,
        epochs=args.epochs,
    )
    print(f"final model accuracy: {run.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
