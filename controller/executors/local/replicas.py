"""The supervisor of a distributed trial's replicas on one machine (a PyTorchJob's master
and workers), run by the local executor as the trial's one process:

    python -m controller.executors.local.replicas PLAN.json

It picks a free port for MASTER_PORT, starts every replica in the supervisor's process
group (a stop of the trial reaches them all), the master's output as its own (the trial's
log, where the metrics are read, as Katib reads the master's) and each worker's into its
own log. It exits with the master's exit code once the master exits, or with a worker's
as soon as a worker fails, stopping the others (SIGTERM, then SIGKILL after the grace
period)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from controller.executors.local.warmstart import PYTHON_NAMES


def free_port() -> int:
    """A TCP port nothing listens on now, for the master's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(replica: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    argv = [str(a) for a in replica["argv"]]
    if argv[0] in PYTHON_NAMES:
        argv[0] = sys.executable
    env = {**os.environ, **{str(k): str(v) for k, v in replica["env"].items()}}
    env["MASTER_PORT"] = str(port)
    output = open(replica["log"], "ab") if replica["log"] else None  # noqa: SIM115
    try:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=replica["cwd"] or None,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    finally:
        if output is not None:
            output.close()


def stop(processes: list[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM every replica still running, SIGKILL what is left after `grace` seconds."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def supervise(plan: dict[str, Any]) -> int:
    port = free_port()
    processes: dict[int, subprocess.Popen[bytes]] = {}
    master = None
    for replica in plan["replicas"]:
        try:
            process = start(replica, port)
        except OSError as err:
            print(f"cannot start {replica['argv'][0]!r}: {err}", flush=True)
            stop(list(processes.values()), float(plan["grace"]))
            return 127
        processes[process.pid] = process
        if replica["rank"] == 0:
            master = process
    assert master is not None
    while True:
        pid, status = os.wait()
        ended = processes.get(pid)
        if ended is None:
            continue
        ended.returncode = code = os.waitstatus_to_exitcode(status)
        if ended is master or code != 0:
            if ended is not master:
                print(f"a worker replica exited with {code}: the trial fails", flush=True)
            stop([p for p in processes.values() if p.returncode is None], float(plan["grace"]))
            return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    return supervise(plan)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
