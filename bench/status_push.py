"""Status pushes under contention: N controllers, one per environment as hpo-controller
runs them (each a process of its own, as each is a pod of its own), each publishing the
status of 10 experiments to its environment's status branch (`hpo-status/env-N`), while 5
people push commits to main of the same remote, served over loopback HTTP (git's
http-backend behind a server that asks for a token, in a process of its own as a forge
is). Against the floor measured in the same run: the same number of plain `git push`
calls of one-file commits from one clone, one at a time, with no one else pushing.

    python bench/status_push.py [--controllers 10] [--updates 5] [--every 1] [--shared]

A controller's experiments run on threads of their own, as `hpo-controller serve` runs
them, and each experiment's status changes every `--every` seconds (at a phase of its
own), 60 times as often as the default commit interval. `--every 0`: each experiment
publishes again as soon as its last change landed (a flood: every controller pushes all
the time). The same changes are also made with plain git (one clone per controller, a
commit and a push per change, on the same schedule) with the people pushing.

Reports pushes and changes per second, p50/p99 of the time from a status change (when it
was due) to its landing on the remote, the push attempts per landed push, and checks that
nothing was lost: every experiment's last status is on its status branch, every person's
commit on main, and no status branch has a merge commit. `--shared` puts every controller
on one status branch instead (a stress case: controllers of one environment never run at
once).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import quantiles

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.sinks.git.remote import Credentials, Publisher  # noqa: E402
from tests.controller.gitserver import serving  # noqa: E402

PYTHON = sys.executable

TOKEN = "bench-token"


def ref_of(index: int, shared: bool) -> str:
    return "refs/heads/hpo-status/shared" if shared else f"refs/heads/hpo-status/env-{index}"


def prefix_of(index: int) -> str:
    return f"status/env-{index}/"


PEOPLE = 5
PACE = 1.0  # seconds between a person's pushes
TARGET = 3.0


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def clone(url: str, at: Path) -> Path:
    env_url = url.replace("http://", f"http://bench:{TOKEN}@")  # the people's clones only
    git(at.parent, "clone", "--quiet", env_url, str(at))
    git(at, "config", "user.name", "Bench")
    git(at, "config", "user.email", "bench@localhost")
    return at


def p(values: list[float], q: int) -> float:
    return quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


class Forge:
    """The remote's server, a process of its own: git's http-backend behind a server that
    asks for a token."""

    def __init__(self, root: Path):
        self.process = subprocess.Popen(
            [PYTHON, __file__, "--serve", str(root)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.base = self.process.stdout.readline().strip()

    def cpu(self) -> float:
        """CPU seconds of the server and of the git processes it has finished."""
        return process_cpu(self.process.pid)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def serve(root: Path) -> None:
    with serving(root, "bench", TOKEN) as (base, _):
        print(base, flush=True)
        sys.stdin.read()  # until the bench closes it


def cpu() -> float:
    """CPU seconds of this process and its finished children (git processes, controllers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def floor(forge: Forge, url: str, scratch: Path, count: int) -> tuple[list[float], float]:
    """The floor's push times, and the CPU seconds one push costs both ends."""
    repo = clone(url, scratch / "floor")
    times, spent = [], 0.0
    for index in range(count):
        (repo / "floor.txt").write_text(f"{index}\n")
        git(repo, "add", "floor.txt")
        git(repo, "commit", "--quiet", "-m", f"floor {index}")
        start, used = time.perf_counter(), cpu() + forge.cpu()
        git(repo, "push", "--quiet", "origin", "HEAD:refs/heads/floor")
        times.append(time.perf_counter() - start)
        spent += cpu() + forge.cpu() - used
    return times, spent / count


def schedule(index: int, updates: int, every: float) -> list[tuple[float, int, int]]:
    """When each of a controller's status changes is due, seconds after "go": (due,
    experiment, update), in time order; each experiment at a phase of its own."""
    chance = random.Random(index)
    phases = [chance.uniform(0, every) for _ in range(10)]
    return sorted((phases[e] + u * every, e, u) for e in range(10) for u in range(updates))


def publish(index: int, url: str, scratch: Path, updates: int, every: float, shared: bool) -> None:
    """One controller (`--controller`): clone, say so, wait for "go", then run its 10
    experiments on threads of their own, each publishing its status `updates` times (due
    every `every` seconds; 0: at once after the last landed), as serve's experiments
    commit (one at a time) and push (together where a push is under way); print a
    report."""
    repo = clone(url, scratch / f"controller-{index}")
    git(repo, "remote", "set-url", "origin", url)  # the token comes from the credentials
    creds = Credentials(token=TOKEN, username="bench")
    ref, prefix = ref_of(index, shared), prefix_of(index)
    latencies: list[float] = []
    late: list[str] = []
    due = schedule(index, updates, every)
    committing = threading.Lock()  # serve commits under one lock, pushes outside it
    with Publisher(repo, ref, prefix, remote="origin", credentials=creds) as status:
        status.sync()  # as the controller does before its first experiment
        print("ready", flush=True)
        sys.stdin.readline()
        go = time.perf_counter()

        def experiment(number: int) -> None:
            path = f"{prefix}e{number}.yaml"
            for when, _, update in (d for d in due if d[1] == number):
                time.sleep(max(0.0, go + when - time.perf_counter()))
                start = max(go + when, time.perf_counter()) if every else time.perf_counter()
                with committing:
                    status.commit({path: f"update {update}\n"}, f"{path} [skip ci]")
                if not status.push(f"{path} [skip ci]"):
                    late.append(path)
                latencies.append(time.perf_counter() - start)

        threads = [threading.Thread(target=experiment, args=(e,)) for e in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for _ in range(5):  # as a controller's next status would
            if not status.pending or status.push("[skip ci]"):
                break
        report = {"latencies": latencies, "late": late, "tries": status.tries}
        print(json.dumps({**report, "pushes": status.pushes}))


def solo(forge: Forge, url: str, scratch: Path, updates: int, every: float) -> float:
    """What one status change costs in CPU to publish, controller and server together,
    one controller on the bench's schedule with no one else pushing."""
    before = cpu()
    worker = subprocess.Popen(
        [PYTHON, __file__, "--controller", "999", "--url", url, "--scratch", str(scratch),
         "--updates", str(updates), "--every", str(every)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert worker.stdout is not None
    worker.stdout.readline()  # ready
    setup, served = process_cpu(worker.pid), forge.cpu()  # its start and its clone
    worker.communicate("go\n")
    spent = cpu() - before - setup + forge.cpu() - served
    return spent / (10 * updates)


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far: its own, and its finished
    children's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def contended(
    url: str,
    scratch: Path,
    controllers: int,
    updates: int,
    every: float,
    shared: bool,
    plain: bool = False,
) -> dict[str, object]:
    """The controllers and the people at once; `plain`: plain `git commit` and `git push`
    of the same files on the same schedule from the same number of clones instead (each to
    a branch of its own), to tell what sharing the machine costs from what publishing
    does."""
    latencies: list[float] = []
    tries, pushes = [0], [0]
    late: list[str] = []  # kept locally at first, for a later push
    lock = threading.Lock()
    done = threading.Event()

    def plain_writer(index: int) -> None:
        repo = clone(url, scratch / f"plain-{index}")
        go = time.perf_counter()
        for when, experiment, update in schedule(index, updates, every):
            time.sleep(max(0.0, go + when - time.perf_counter()))
            start = max(go + when, time.perf_counter()) if every else time.perf_counter()
            path = f"e{experiment}.yaml"
            (repo / path).write_text(f"update {update}\n")
            git(repo, "add", path)
            git(repo, "commit", "--quiet", "-m", path)
            git(repo, "push", "--quiet", "origin", f"HEAD:refs/heads/plain-{index}")
            with lock:
                latencies.append(time.perf_counter() - start)
                tries[0] += 1
                pushes[0] += 1

    def controller(index: int, ready: threading.Barrier, go: threading.Event) -> None:
        """One controller, a process of its own: it clones, says it is ready, publishes
        when told to, and reports its latencies."""
        worker = subprocess.Popen(
            [PYTHON, __file__, "--controller", str(index), "--url", url, "--scratch",
             str(scratch), "--updates", str(updates), "--every", str(every),
             *(["--shared"] if shared else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdout.readline()  # ready
        ready.wait()
        go.wait()
        worker.stdin.write("go\n")
        worker.stdin.flush()
        report = json.loads(worker.stdout.readline())
        worker.wait()
        with lock:
            latencies.extend(report["latencies"])
            late.extend(report["late"])
            tries[0] += report["tries"]
            pushes[0] += report["pushes"]

    pushed_by_people = [0]

    run_name = "plain" if plain else "controllers"
    clones = [clone(url, scratch / f"person-{run_name}-{i}") for i in range(PEOPLE)]

    def person(index: int) -> None:
        repo = clones[index]
        number = 0
        # People push now and then, not all at once: each about once a PACE, the first
        # pushes spread over one.
        done.wait(PACE * index / PEOPLE)
        while not done.is_set():
            (repo / f"notes-{index}.txt").write_text(f"{number}\n")
            git(repo, "add", f"notes-{index}.txt")
            git(repo, "commit", "--quiet", "-m", f"person {index} note {number}")
            while subprocess.run(
                ["git", "-C", str(repo), "push", "--quiet", "origin", "HEAD:main"],
                capture_output=True,
            ).returncode:
                git(repo, "pull", "--quiet", "--rebase", "origin", "main")
            number += 1
            with lock:
                pushed_by_people[0] += 1
            done.wait(PACE)  # a person pushes now and then, not in a tight loop

    people = [threading.Thread(target=person, args=(i,)) for i in range(PEOPLE)]
    ready = threading.Barrier(controllers + 1)
    go = threading.Event()
    workers = [
        threading.Thread(target=plain_writer, args=(i,))
        if plain
        else threading.Thread(target=controller, args=(i, ready, go))
        for i in range(controllers)
    ]
    if not plain:
        for thread in workers:
            thread.start()
        ready.wait()  # every controller cloned and waiting
    for thread in people:
        thread.start()
    start = time.perf_counter()
    go.set()
    if plain:
        for thread in workers:
            thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start
    done.set()
    for thread in people:
        thread.join()
    return {
        "latencies": latencies,
        "tries": tries[0],
        "pushes": pushes[0],
        "late": late,
        "elapsed": elapsed,
        "people": pushed_by_people[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", type=int, default=10)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument(
        "--every", type=float, default=1.0, help="seconds between an experiment's changes"
    )
    parser.add_argument("--show", action="store_true", help="print every latency")
    parser.add_argument("--shared", action="store_true", help="one status branch for all")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--controller", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)
    if args.controller is not None:
        return publish(
            args.controller, args.url, args.scratch, args.updates, args.every, args.shared
        )
    with tempfile.TemporaryDirectory(prefix="bench-push-") as scratch_name:
        scratch = Path(scratch_name)
        remote = scratch / "remote.git"
        git(scratch, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
        forge = Forge(scratch)
        try:
            url = f"{forge.base}/remote.git"
            seed = clone(url, scratch / "seed")
            (seed / "README.md").write_text("bench\n")
            git(seed, "add", "README.md")
            git(seed, "commit", "--quiet", "-m", "start")
            git(seed, "push", "--quiet", "origin", "HEAD:main")
            count = args.controllers * 10 * args.updates
            base_times, per_push = floor(forge, url, scratch, count)
            per_change = solo(forge, url, scratch, args.updates, args.every)
            load = (url, scratch, args.controllers, args.updates, args.every)
            shared_machine = contended(*load, shared=False, plain=True)
            run = contended(*load, shared=args.shared)
        finally:
            forge.close()
        latencies: list[float] = run["latencies"]  # type: ignore[assignment]
        refs = sorted({ref_of(c, args.shared) for c in range(args.controllers)})
        landed = {
            path: git(remote, "show", f"{ref}:{path}")
            for ref in refs
            for path in git(remote, "ls-tree", "-r", "--name-only", ref).split()
        }
        expected = {
            f"{prefix_of(c)}e{e}.yaml": f"update {args.updates - 1}\n"
            for c in range(args.controllers)
            for e in range(10)
        }
        merges = [m for ref in refs for m in git(remote, "rev-list", "--merges", ref).split()]
        notes = len(git(remote, "log", "--format=%s", "main").splitlines()) - 1
    if args.show:
        print(sorted(round(x, 3) for x in latencies))
    lost = [path for path in expected if landed.get(path) != expected[path]]
    late = len(run["late"])  # type: ignore[arg-type]
    ratio = p(latencies, 99) / p(base_times, 99)
    pace = f"each due every {args.every:g} s" if args.every else "each as soon as the last landed"
    elapsed = float(run["elapsed"])  # type: ignore[arg-type]
    pushes, tries = int(run["pushes"]), int(run["tries"])  # type: ignore[call-overload]
    print(
        f"floor: {count} plain pushes, one at a time: p50 {p(base_times, 50) * 1000:.0f} ms, "
        f"p99 {p(base_times, 99) * 1000:.0f} ms"
    )
    print(
        f"{args.controllers} controllers x 10 experiments x {args.updates} status changes "
        f"({pace}) with {PEOPLE} people pushing to main: {len(latencies) / elapsed:.1f} "
        f"changes/s in {pushes / elapsed:.1f} pushes/s; change to landing p50 "
        f"{p(latencies, 50) * 1000:.0f} ms, p99 {p(latencies, 99) * 1000:.0f} ms "
        f"({ratio:.1f}x the floor's p99, target <= {TARGET:g}x: "
        f"{'MET' if ratio <= TARGET else 'NOT MET'}); {tries / max(pushes, 1):.2f} push "
        "attempts per landed push"
    )
    cores = os.cpu_count() or 1
    print(
        f"one plain push costs {per_push * 1000:.1f} ms of CPU (client and server); "
        f"publishing one status change {per_change * 1000:.1f} ms (one controller on the "
        f"same schedule, alone); {args.controllers} controllers' changes at this pace keep "
        f"{len(latencies) * per_change / elapsed / cores:.0%} of {cores} cores busy"
    )
    plain: list[float] = shared_machine["latencies"]  # type: ignore[assignment]
    people = int(run["people"]) + int(shared_machine["people"])  # type: ignore[call-overload]
    print(
        f"the same changes as plain git commits and pushes, one clone per controller (each "
        f"its own branch), with the people: p50 {p(plain, 50) * 1000:.0f} ms, p99 "
        f"{p(plain, 99) * 1000:.0f} ms; the controllers' p99 is "
        f"{p(latencies, 99) / p(plain, 99):.1f}x that"
    )
    print(
        f"lost: {len(lost)} statuses ({late} landed with a later push); "
        f"people's commits on main: {notes} of {people}; "
        f"merge commits on the status branches: {len(merges)}"
    )


if __name__ == "__main__":
    main()
