"""One `hpo-controller serve` driving many experiments against the fake API server
(tests/kubeapi.py), with the cluster simulated (tests/kubesim.py) and trials that end at
once (each prints its loss and exits). The controller runs as its own process, so its CPU
time and peak memory are its own, and every request it makes is counted by the server.

    python bench/cluster.py [--experiments 100] [--trials 20] [--parallel 10]

Reports API requests per trial (reads and writes apart), the controller's CPU seconds and
peak RSS, and the time from a trial's end to the creation of its successor, p50/p99. A
successor is the trial that takes an ended trial's slot: an experiment's n-th trial to end
makes room for its n-th trial after the first `parallel`. The time is measured from its
workload's status saying so to the successor stored, as the API server sees both; and
from the end the controller observed (the completionTime it records when its watch tells
it) to the successor's create read by the API server, and answered (the fake server notes
both). Beside them, in the same report: a floor of the bare calls a trial needs (create
its workload, delete it: two writes, and its share of each experiment's final status
patch), and Katib's cost per experiment and per trial as its controllers make it by
default (counted from its object model and its config defaults,
`pkg/apis/config/v1beta1/defaults.go`: Katib's controller does not run here)."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from statistics import quantiles
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.kubeapi import FakeKubernetes  # noqa: E402
from tests.kubesim import ClusterSimulation, loss_runner, random_experiment  # noqa: E402

NAMESPACE = "bench"
READS = ("get", "watch", "log")
WRITES = ("create", "update", "patch", "delete")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1800)
    options = parser.parse_args()

    fake = FakeKubernetes(bookmark_every=5.0).start()
    simulation = ClusterSimulation(fake, runner=loss_runner).start()
    experiments = fake.kind_of("kubeflow.org/v1beta1", "Experiment")
    ends: dict[str, float] = {}  # trial -> when its workload's status said it ended
    # experiment -> (trial's number, when its workload was stored), for each trial
    created_at: dict[str, list[tuple[int, float]]] = {}
    lock = threading.Lock()

    def heard(event: str, kind: Any, body: dict[str, Any]) -> None:
        if kind.kind != "Job":
            return
        name = body["metadata"]["name"]
        owner = name.rsplit("-", 1)[0]
        now = time.monotonic()
        with lock:
            if event == "ADDED":
                created_at.setdefault(owner, []).append((int(name.rsplit("-", 1)[1]), now))
            elif (
                event == "MODIFIED"
                and any(
                    c.get("type") in ("Complete", "Failed")
                    for c in (body.get("status") or {}).get("conditions") or []
                )
                and name not in ends
            ):
                ends[name] = now

    fake.listeners.append(heard)
    received: dict[str, float] = {}  # trial -> when its workload's create reached the server
    answered: dict[str, float] = {}  # trial -> when that create was answered

    def noted(times: dict[str, float]) -> Any:
        def note(method: str, path: str, body: Any, at: float) -> None:
            if method == "POST" and path.endswith("/jobs"):
                with lock:
                    times[body["metadata"]["name"]] = at

        return note

    fake.arrivals.append(noted(received))
    fake.departures.append(noted(answered))
    work = Path(tempfile.mkdtemp(prefix="hpo-bench-cluster-"))
    environment = {**os.environ, "HPO_RESULTS": "none"}
    controller = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "hpo-controller"), "serve", "--env", "bench",
            "--namespace", NAMESPACE, "--kube-api", fake.url, "--work", str(work),
            "--probe-port", "0", "--metrics-port", "0",
        ],
        cwd=ROOT,
        env=environment,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    names = [f"bench-{i:03d}" for i in range(options.experiments)]
    started = time.monotonic()
    for name in names:
        fake.create(
            experiments,
            NAMESPACE,
            random_experiment(name, NAMESPACE, options.trials, options.parallel),
        )

    def ended(name: str) -> bool:
        body = fake.get(experiments, NAMESPACE, name) or {}
        conditions = (body.get("status") or {}).get("conditions") or []
        return bool(conditions) and conditions[-1]["type"] in ("Succeeded", "Failed")

    while not all(ended(name) for name in names):
        if time.monotonic() - started > options.timeout or controller.poll() is not None:
            print("did not finish", file=sys.stderr)
            controller.kill()
            return 1
        time.sleep(0.5)
    wall = time.monotonic() - started
    time.sleep(1.5)  # the last deletes
    controller.send_signal(signal.SIGTERM)
    controller.wait(timeout=120)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    statuses = [
        (fake.get(experiments, NAMESPACE, name) or {}).get("status") or {} for name in names
    ]
    recorded = sum(int(status.get("trials", 0)) for status in statuses)
    succeeded = sum(int(status.get("trialsSucceeded", 0)) for status in statuses)
    # From the end the controller observed (the completionTime it recorded when its watch
    # told it) to the successor's create read by the API server, and to that create
    # answered.
    reactions = {
        what: [gap for status in statuses for gap in successor_gaps(status, options.parallel, at)]
        for what, at in (("reached", received), ("answered", answered))
    }
    simulation.stop()
    requests = dict(fake.requests)
    fake.close()
    shutil.rmtree(work, ignore_errors=True)  # the controller's logs and state

    trials = sum(len(times) for times in created_at.values())  # the workloads created
    reads = sum(requests.get(v, 0) for v in READS)
    writes = sum(requests.get(v, 0) for v in WRITES)
    by_owner: dict[str, list[float]] = {}
    for name, at in ends.items():
        by_owner.setdefault(name.rsplit("-", 1)[0], []).append(at)
    gaps = [
        made - end
        for owner, times in created_at.items()
        for end, made in zip(
            sorted(by_owner.get(owner, [])),
            [at for _, at in sorted(times)[options.parallel :]],
            strict=False,
        )
    ]
    p50, p99 = (quantiles(gaps, n=100)[i] * 1000 for i in (49, 98)) if len(gaps) > 2 else (0, 0)
    cpu = usage.ru_utime + usage.ru_stime
    rss = usage.ru_maxrss / 1024
    print(f"{options.experiments} experiments x {options.trials} trials "
          f"({options.parallel} in parallel), instant workloads: {wall:.1f} s")  # fmt: skip
    print(f"API requests per trial: {reads / trials:.2f} reads, {writes / trials:.2f} writes "
          f"(by verb: {', '.join(f'{k} {v}' for k, v in sorted(requests.items()))})")  # fmt: skip
    print(f"controller: {cpu:.1f} CPU seconds, peak RSS {rss:.0f} MB (one process); "
          f"{recorded} trials recorded in the Experiments' status, {succeeded} succeeded "
          "with their metrics")  # fmt: skip
    print(f"the fake API server and the simulated cluster (this process): "
          f"{own.ru_utime + own.ru_stime:.1f} CPU seconds")  # fmt: skip
    print(f"a trial's end to its successor's creation, seen by the API server: p50 {p50:.0f} "
          f"ms, p99 {p99:.0f} ms ({len(gaps)} successors)")  # fmt: skip
    shown = {
        what: (quantiles(gaps, n=100)[49] * 1000, quantiles(gaps, n=100)[98] * 1000)
        for what, gaps in reactions.items()
        if len(gaps) > 2
    }
    if len(shown) == 2:
        print("a trial's end observed by the controller to its successor's create read by "
              f"the API server: p50 {shown['reached'][0]:.0f} ms, p99 "
              f"{shown['reached'][1]:.0f} ms; to that create answered: p50 "
              f"{shown['answered'][0]:.0f} ms, p99 {shown['answered'][1]:.0f} ms "
              f"({len(reactions['answered'])} successors)")  # fmt: skip
    floor_writes = 2 + options.experiments / trials  # create, delete; one final status each
    print(
        f"floor: {floor_writes:.2f} writes per trial (its workload's create and delete, "
        "and each experiment's final status patch), 0 reads beyond the watches"
    )
    print(
        "Katib by default: per experiment a Suggestion object, a suggestion Deployment and "
        "Service with one pod (requests 50m CPU, 10Mi memory; limits 500m, 100Mi; 500Mi "
        f"disk): {options.experiments} pods, {options.experiments * 100} Mi of memory "
        "limits; per trial a Trial object (create, >= 3 status updates), its Job (create, "
        "delete), the Suggestion's requests and status (2), the Experiment's status (>= 1): "
        ">= 9 writes, plus a database write per metric line reported"
    )
    return 0


def successor_gaps(status: dict[str, Any], parallel: int, at: dict[str, float]) -> list[float]:
    """For each trial started after the first `parallel`, in order: the time `at` has for
    it (wall-clock, as the API server saw its create) less the completionTime (set when the
    controller's watch told it of the end) of the trial whose slot it took: the n-th trial
    to end in the experiment makes room for its n-th successor."""
    trials = status.get("trialRecords") or []
    ends = sorted(_at(t["completionTime"]) for t in trials if t.get("completionTime"))
    successors = sorted(trials, key=lambda t: int(t["name"].rsplit("-", 1)[1]))[parallel:]
    return [
        at[t["name"]] - end for end, t in zip(ends, successors, strict=False) if t["name"] in at
    ]


def _at(text: str) -> float:
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    sys.exit(main())
