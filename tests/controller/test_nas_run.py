"""NAS experiments run end to end by `hpo-controller run`: Katib's own enas-cpu and
darts-cpu examples, imported unchanged and run with the trainers image put in for Katib's
by an environment's image override; an ENAS experiment of the spec language whose
controller, after a restart for a raised budget, continues from its finished trials; a
DARTS primitive the trainers cannot build failing its trial with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from generator.files import yamlio
from tests.conftest import REPO_ROOT, ProjectFactory, render_and_commit, run_cli

KATIB_NAS = REPO_ROOT / "tests/katib/examples/nas"
OVERRIDES = """\
from generator import environment, image

dev = environment(
    "dev",
    namespace="hpo-dev",
    experiments="*",
    images=[
        image(f"ghcr.io/kubeflow/katib/{name}-cnn-cifar10-cpu", new_name="hpo-gen-trainers",
              tag="dev")
        for name in ("enas", "darts")
    ],
)
"""


def status(root: Path, name: str) -> dict:  # type: ignore[type-arg]
    return yamlio.load((root / f"status/dev/{name}.yaml").read_text())  # type: ignore[no-any-return]


def test_katibs_nas_examples_import_and_run_with_the_trainers_image(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/environments.py": OVERRIDES})
    imported = run_cli(
        "hpo-gen",
        "import",
        str(KATIB_NAS / "enas-cpu.yaml"),
        str(KATIB_NAS / "darts-cpu.yaml"),
        "--out",
        "spec",
        cwd=root,
    )
    assert imported.returncode == 0, imported.stderr
    render_and_commit(root)
    ran = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert ran.returncode == 0, ran.stderr

    enas = status(root, "enas-cpu")
    assert enas["status"]["trialsSucceeded"] == 3
    for trial in enas["trials"]:
        assigned = {a["name"]: a["value"] for a in trial["parameterAssignments"]}
        [[choice]] = json.loads(assigned["architecture"].replace("'", '"'))
        config = json.loads(assigned["nn_config"].replace("'", '"'))
        assert config["input_sizes"] == [32, 32, 3] and str(choice) in config["embedding"]
        assert trial["metrics"][0]["name"] == "Validation-Accuracy"

    darts = status(root, "darts-cpu")
    assert darts["status"]["trialsSucceeded"] == 1
    [metric] = darts["trials"][0]["metrics"]
    assert metric["name"] == "Best-Genotype"
    assert metric["min"] == metric["max"] == "unavailable"
    assert metric["latest"].startswith("Genotype(normal=[[('max_pooling_3x3',")
    assert darts["status"]["currentOptimalTrial"]["bestTrialName"] == "darts-cpu-0001"
    summary = (root / "status/dev/darts-cpu.md").read_text()
    assert "| Best-Genotype | max | Genotype(normal=\\[\\[('max\\_pooling\\_3x3'" in summary
    assert "| unavailable | unavailable | Genotype(normal=" in summary  # min, max, latest


ENAS = """\
from generator import SearchSpace, categorical, container, enas, experiment, job, maximize
from generator import nas_config, operation, trial_parameter

template = job(container(
    image="hpo-gen-trainers:dev",
    command=["python", "-m", "trainers.nas", "enas"],
    args=["--architecture=${{trialParameters.architecture}}",
          "--nn_config=${{trialParameters.nnConfig}}", "--num_epochs=1", "--batch-size=64"],
))
search = experiment(
    "small-enas",
    objective=maximize("Validation-Accuracy"),
    algorithm=enas(controller_hidden_size=16, controller_learning_rate=0.05,
                   controller_train_steps=5),
    nas_config=nas_config(
        num_layers=3, input_sizes=[8, 8, 1], output_sizes=[10],
        operations=[
            operation("convolution", SearchSpace(filter_size=categorical(["3", "5"]),
                                                 num_filter=categorical(["8", "16"]))),
            operation("reduction", SearchSpace(reduction_type=categorical(["max_pooling"]))),
        ],
    ),
    max_trial_count={trials},
    parallel_trial_count=2,
    resume_policy="LongRunning",
    trial=template.model_copy(update={{"trial_parameters": [
        trial_parameter("architecture", "architecture"),
        trial_parameter("nnConfig", "nn_config"),
    ]}}),
)
"""


def test_enas_resumes_from_its_finished_trials_after_a_restart(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/small.py": ENAS.format(trials=4)})
    render_and_commit(root)
    first = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert first.returncode == 0, first.stderr
    before = status(root, "small-enas")["trials"]
    assert [t["state"] for t in before] == ["Succeeded"] * 4
    (root / "spec/small.py").write_text(ENAS.format(trials=7))
    assert run_cli("hpo-gen", "render", cwd=root).returncode == 0
    again = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "resuming with 4 finished trials" in again.stderr
    trials = status(root, "small-enas")["trials"]
    assert len(trials) == 7 and trials[:4] == before
    architectures = {t["parameterAssignments"][0]["value"] for t in trials}
    assert len(architectures) == 7  # the rebuilt controller repeats none


DARTS = """\
from generator import SearchSpace, categorical, container, darts, experiment, job, maximize
from generator import nas_config, operation, trial_parameter

template = job(container(
    image="hpo-gen-trainers:dev",
    command=["python", "-m", "trainers.nas", "darts"],
    args=["--algorithm-settings=${trialParameters.settings}",
          "--search-space=${trialParameters.space}", "--num-layers=${trialParameters.layers}"],
))
search = experiment(
    "bad-darts",
    objective=maximize("Validation-Accuracy"),
    algorithm=darts(num_epochs=1),
    nas_config=nas_config(num_layers=1, operations=[
        operation("transformer", SearchSpace(filter_size=categorical(["3"]))),
    ]),
    max_trial_count=1,
    max_failed_trial_count=1,
    parallel_trial_count=1,
    trial=template.model_copy(update={"trial_parameters": [
        trial_parameter("settings", "algorithm-settings"),
        trial_parameter("space", "search-space"),
        trial_parameter("layers", "num-layers"),
    ]}),
)
"""


def test_a_primitive_the_trainers_cannot_build_fails_the_trial_with_the_reason(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/bad.py": DARTS})
    render_and_commit(root)
    ran = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    [trial] = status(root, "bad-darts")["trials"]
    assert trial["state"] == "Failed" and trial["exitCode"] == 1
    reason = "primitive 'transformer_3x3' is not one these trainers build"
    assert reason in (root / trial["log"]).read_text()
    assert "bad-darts-0001 Failed: exit code 1; its output ends: " in ran.stderr
    assert reason in ran.stderr
    assert "ExperimentFailed" in ran.stdout + ran.stderr
