"""Status pushes under contention: N controllers, one per environment as hpo-controller
runs them (each a process of its own, as each is a pod of its own), each publishing the
status of 10 running experiments to its environment's status branch (`hpo-status/env-N`),
while 5 people push commits to main of the same remote, served over loopback HTTP (git's
http-backend behind a server that asks for a token, in a process of its own as a forge
is). Against the floor measured in the same run: the same number of plain `git push`
calls of one-file commits from one clone, one at a time, with no one else pushing.

    python bench/status_push.py [--controllers 10] [--rounds 10] [--interval 1] [--shared]

A controller publishes as `hpo-controller serve` does (controller/service/checkpoints.py
and the Publisher): its experiments, on threads of their own, hand over a new status as
often as the engine saves one (each second, at a phase of its own); at most once every
`--interval` seconds (the commit interval: 1 s, the shortest an environment may set, 60
times as often as the default) a round makes one commit of every experiment that changed
and pushes it, the first round at a random phase as serve's. Experiments end at times of
their own, over the second half of the run, each with a commit of its last status, pushed
at once (with any others made meanwhile).
The same rounds are also made with plain git (one clone per controller: the 10 files in
one commit, one push a round) with the people pushing.

Reports pushes and commits per second, p50/p99 of the time from a status commit to its
landing on the remote, the push attempts per landed push, and checks that nothing was
lost: every experiment's last status is on its status branch, every person's commit on
main, and no status branch has a merge commit. `--shared` puts every controller on one
status branch instead (a stress case: controllers of one environment never run at once).
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

from controller.engine.loop import SAVE_INTERVAL  # noqa: E402
from controller.service.checkpoints import Checkpoints  # noqa: E402
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


CHANGE_EVERY = SAVE_INTERVAL  # an experiment's status is handed over as often as the engine saves


def publish(
    index: int, url: str, scratch: Path, rounds: int, interval: float, shared: bool
) -> None:
    """One controller (`--controller`): clone, say so, wait for "go", then run its 10
    experiments, each for between half of `rounds` commit intervals and all of them, and
    commit each one's last status at its end, as serve does; print a report."""
    repo = clone(url, scratch / f"controller-{index}")
    git(repo, "remote", "set-url", "origin", url)  # the token comes from the credentials
    creds = Credentials(token=TOKEN, username="bench")
    ref, prefix = ref_of(index, shared), prefix_of(index)
    latencies: list[float] = []
    late = [0]
    lock = threading.Lock()
    message = f"{prefix}: results [skip ci]"
    with Publisher(repo, ref, prefix, remote="origin", credentials=creds) as status:
        status.sync()  # as the controller does before its first experiment

        def commit(batch: dict[str, str]) -> None:
            """As serve's: one commit of every experiment in `batch`, then a push (which
            carries other threads' commits made meanwhile, as theirs may carry this)."""
            start = time.perf_counter()
            made = status.commit(batch, f"{prefix}: {len(batch)} experiments [skip ci]")
            landed = status.push(message)
            with lock:
                if not landed:
                    late[0] += 1
                elif made is not None:
                    latencies.extend([time.perf_counter() - start] * len(batch))

        checkpoints: Checkpoints[str] = Checkpoints(interval, commit)
        last: dict[str, str] = {}
        print("ready", flush=True)
        sys.stdin.readline()
        go = time.perf_counter()
        chance = random.Random(index)  # experiments end at times of their own, in the
        lasting = [rounds * interval * chance.uniform(0.5, 1.0) for _ in range(10)]  # 2nd half

        def experiment(number: int) -> None:
            path = f"{prefix}e{number}.yaml"
            time.sleep(chance.uniform(0, CHANGE_EVERY))  # each at a phase of its own
            update = 0
            while time.perf_counter() < go + lasting[number]:
                last[path] = f"update {update}\n"
                checkpoints.offer(path, last[path])
                update += 1
                time.sleep(CHANGE_EVERY)
            checkpoints.close(path)  # its end: the final commit, from its own thread
            commit({path: last[path]})

        threads = [threading.Thread(target=experiment, args=(e,)) for e in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        checkpoints.close()
        for _ in range(5):  # what a failed push kept goes out, as serve's next try
            if not status.pending:
                break
            commit({})
        report = {"latencies": latencies, "late": late[0], "tries": status.tries}
        print(json.dumps({**report, "pushes": status.pushes, "last": last}))


def solo(forge: Forge, url: str, scratch: Path, rounds: int, interval: float) -> float:
    """What one status commit costs in CPU to make and push, controller and server
    together, one controller in rounds as the bench's with no one else pushing."""
    before = cpu()
    worker = subprocess.Popen(
        [PYTHON, __file__, "--controller", "999", "--url", url, "--scratch", str(scratch),
         "--rounds", str(rounds), "--interval", str(interval)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert worker.stdout is not None
    worker.stdout.readline()  # ready
    setup, served = process_cpu(worker.pid), forge.cpu()  # its start and its clone
    report = json.loads(worker.communicate("go\n")[0])
    spent = cpu() - before - setup + forge.cpu() - served
    return spent / len(report["latencies"])


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far: its own, and its finished
    children's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def contended(
    url: str,
    scratch: Path,
    controllers: int,
    rounds: int,
    interval: float,
    shared: bool,
    plain: bool = False,
) -> dict[str, object]:
    """The controllers and the people at once; `plain`: plain `git commit` and `git push`
    of the same rounds from the same number of clones instead (each to a branch of its
    own), to tell what sharing the machine costs from what publishing does."""
    latencies: list[float] = []
    tries, pushes = [0], [0]
    late = [0]  # pushes that kept their commits locally for a later one
    last: dict[str, str] = {}  # each experiment's last status, as its controller made it
    lock = threading.Lock()
    done = threading.Event()

    def plain_writer(index: int) -> None:
        repo = clone(url, scratch / f"plain-{index}")
        go = time.perf_counter() + random.Random(index).uniform(0, interval)  # as serve's
        for update in range(rounds):
            time.sleep(max(0.0, go + (update + 1) * interval - time.perf_counter()))
            start = time.perf_counter()
            for experiment in range(10):
                (repo / f"e{experiment}.yaml").write_text(f"update {update}\n")
            git(repo, "add", "--all")
            git(repo, "commit", "--quiet", "-m", f"round {update}")
            git(repo, "push", "--quiet", "origin", f"HEAD:refs/heads/plain-{index}")
            now = time.perf_counter()
            with lock:
                latencies.extend([now - start] * 10)
                tries[0] += 1
                pushes[0] += 1

    def controller(index: int, ready: threading.Barrier, go: threading.Event) -> None:
        """One controller, a process of its own: it clones, says it is ready, publishes
        when told to, and reports its latencies."""
        worker = subprocess.Popen(
            [PYTHON, __file__, "--controller", str(index), "--url", url, "--scratch",
             str(scratch), "--rounds", str(rounds), "--interval", str(interval),
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
            late[0] += report["late"]
            last.update(report["last"])
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
        "late": late[0],
        "last": last,
        "elapsed": elapsed,
        "people": pushed_by_people[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10, help="commit intervals to run")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="the commit interval, in seconds"
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
            args.controller, args.url, args.scratch, args.rounds, args.interval, args.shared
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
            count = args.controllers * args.rounds
            base_times, per_push = floor(forge, url, scratch, count)
            per_change = solo(forge, url, scratch, args.rounds, args.interval)
            load = (url, scratch, args.controllers, args.rounds, args.interval)
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
        expected: dict[str, str] = run["last"]  # type: ignore[assignment]
        merges = [m for ref in refs for m in git(remote, "rev-list", "--merges", ref).split()]
        notes = len(git(remote, "log", "--format=%s", "main").splitlines()) - 1
    if args.show:
        print(sorted(round(x, 3) for x in latencies))
    lost = [path for path in expected if landed.get(path) != expected[path]]
    late = int(run["late"])  # type: ignore[call-overload]
    ratio = p(latencies, 99) / p(base_times, 99)
    elapsed = float(run["elapsed"])  # type: ignore[arg-type]
    pushes, tries = int(run["pushes"]), int(run["tries"])  # type: ignore[call-overload]
    print(
        f"floor: {count} plain pushes, one at a time: p50 {p(base_times, 50) * 1000:.0f} ms, "
        f"p99 {p(base_times, 99) * 1000:.0f} ms"
    )
    print(
        f"{args.controllers} controllers x 10 running experiments, {args.rounds} commit "
        f"intervals of {args.interval:g} s, with {PEOPLE} people pushing to main: "
        f"{len(latencies)} status commits ({len(latencies) / elapsed:.1f}/s) in {pushes} "
        f"pushes ({pushes / elapsed:.1f}/s); commit to landing p50 "
        f"{p(latencies, 50) * 1000:.0f} ms, p99 {p(latencies, 99) * 1000:.0f} ms "
        f"({ratio:.1f}x the floor's p99, target <= {TARGET:g}x: "
        f"{'MET' if ratio <= TARGET else 'NOT MET'}); {tries / max(pushes, 1):.2f} push "
        "attempts per push"
    )
    cores = os.cpu_count() or 1
    print(
        f"one plain push costs {per_push * 1000:.1f} ms of CPU (client and server); a "
        f"status commit, with its share of its round's push, {per_change * 1000:.1f} ms "
        f"(one controller alone, in the same rounds); {args.controllers} controllers keep "
        f"{len(latencies) * per_change / elapsed / cores:.0%} of {cores} cores busy"
    )
    plain: list[float] = shared_machine["latencies"]  # type: ignore[assignment]
    people = int(run["people"]) + int(shared_machine["people"])  # type: ignore[call-overload]
    print(
        f"the same rounds with git's command line (a commit and a push a round), one "
        f"clone per controller (each its own branch), with the people: p50 "
        f"{p(plain, 50) * 1000:.0f} ms, p99 {p(plain, 99) * 1000:.0f} ms; the controllers' "
        "p99 is "
        f"{p(latencies, 99) / p(plain, 99):.1f}x that"
    )
    print(
        f"lost: {len(lost)} of {len(expected)} experiments' last statuses ({late} pushes "
        "left theirs for a later one); "
        f"people's commits on main: {notes} of {people}; "
        f"merge commits on the status branches: {len(merges)}"
    )


if __name__ == "__main__":
    main()
