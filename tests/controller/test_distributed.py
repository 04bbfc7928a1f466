"""A PyTorchJob trial on one machine: one process per replica, with the environment
PyTorch's env:// rendezvous reads, so a DDP trainer (gloo, on CPU) runs as it would in a
cluster; the trial's metrics are the master's. Kinds that cannot run on one machine are
refused by validate for local environments, before anything runs."""

from __future__ import annotations

from pathlib import Path

from generator.files import yamlio
from tests.conftest import ProjectFactory, render_and_commit, run_cli

DDP_TRAINER = """\
import os
import sys

import torch
import torch.distributed as dist

args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
for name in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK"):
    assert os.environ.get(name), name
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
# Each replica holds part of the gradient; the all-reduce sums them, as DDP does.
share = torch.tensor([float(args["lr"]) * (rank + 1)])
dist.all_reduce(share)
expected = float(args["lr"]) * world * (world + 1) / 2
assert abs(share.item() - expected) < 1e-6, (share.item(), expected)
if rank == 0:
    print(f"loss={1 - float(args['lr']):.6f} world={world}", flush=True)
else:
    print(f"worker {rank} of {world} agrees", flush=True)
dist.destroy_process_group()
"""

SPEC = """\
from generator import SearchSpace, double, experiment, minimize, random_search, trial_template

space = SearchSpace(lr=double(0.01, 0.05))
replica = {{
    "replicas": {replicas},
    "restartPolicy": "OnFailure",
    "template": {{"spec": {{"containers": [
        {{"name": "pytorch", "image": "t:1", "command": ["python", "ddp.py", f"--lr={{space.lr}}"]}}
    ]}}}},
}}
ddp = experiment(
    "ddp",
    objective=minimize("loss"),
    algorithm=random_search(random_state=3),
    parameters=space,
    max_trial_count=2,
    parallel_trial_count=1,
    max_failed_trial_count=1,
    trial=trial_template(
        {{
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "spec": {{"pytorchReplicaSpecs": {{
                "Master": {{**replica, "replicas": 1}}, "Worker": replica,
            }}}},
        }},
        primary_container_name="pytorch",
    ),
)
"""


def test_a_pytorchjob_trial_runs_its_replicas_as_ddp_processes(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/ddp.py": SPEC.format(replicas=2), "ddp.py": DDP_TRAINER})
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 0, result.stderr
    status = yamlio.load((root / "status/dev/ddp.yaml").read_text())
    assert [t["state"] for t in status["trials"]] == ["Succeeded", "Succeeded"]
    for trial in status["trials"]:
        [metric] = trial["metrics"]
        assert metric["name"] == "loss"  # the master's output, as Katib reads it
        master_log = (root / trial["log"]).read_text()
        assert "world=3" in master_log  # a master and two workers
        for rank in (1, 2):
            worker = Path(root / trial["log"]).with_name(f"{trial['name']}.worker-{rank}.log")
            assert f"worker {rank} of 3 agrees" in worker.read_text()


def test_a_failing_worker_fails_the_trial(make_project: ProjectFactory) -> None:
    failing = DDP_TRAINER.replace(
        "dist.init_process_group",
        "if os.environ['RANK'] == '1':\n    sys.exit(4)\ndist.init_process_group",
    )
    root = make_project({"spec/ddp.py": SPEC.format(replicas=1), "ddp.py": failing})
    render_and_commit(root)
    result = run_cli("hpo-controller", "run", "--env", "dev", cwd=root)
    assert result.returncode == 1
    status = yamlio.load((root / "status/dev/ddp.yaml").read_text())
    assert status["trials"][0]["state"] == "Failed"
    assert status["trials"][0]["exitCode"] == 4
    assert "a worker replica exited with 4" in result.stderr


ARGO = """\
from generator import SearchSpace, double, experiment, minimize, random_search, trial_template

space = SearchSpace(lr=double(0.01, 0.05))
workflow = experiment(
    "workflow",
    objective=minimize("loss"),
    algorithm=random_search(),
    parameters=space,
    trial=trial_template(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "spec": {"entrypoint": "train", "templates": [{"name": "train", "container": {
                "name": "main", "image": "t:1", "command": ["train", f"--lr={space.lr}"]}}]},
        },
        primary_container_name="main",
        success_condition="status.[@this].#(phase==\\"Succeeded\\")#",
        failure_condition="status.[@this].#(phase==\\"Failed\\")#",
    ),
)
"""


def test_a_kind_that_needs_a_cluster_is_refused_for_a_local_environment(
    make_project: ProjectFactory,
) -> None:
    root = make_project({"spec/workflow.py": ARGO})
    result = run_cli("hpo-gen", "validate", cwd=root)
    assert result.returncode == 1
    assert "environment 'dev' runs trials on this machine" in result.stderr
    assert "this one is a Workflow" in result.stderr
    assert "executor='cluster'" in result.stderr
    (root / "spec/environments.py").write_text(
        "from generator import environment\n\n"
        "dev = environment('dev', namespace='hpo-dev', experiments='*', executor='katib')\n"
    )
    assert run_cli("hpo-gen", "validate", cwd=root).returncode == 0
