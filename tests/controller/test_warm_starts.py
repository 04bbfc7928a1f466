"""Warm trial starts behave exactly as cold ones: every behaviour below runs forked from
the zygote and as a fresh `python -m`, and they must agree. A cold trial starts one of
three ways, by posix_spawn (in the controller's working directory), by subprocess (in any
other), or from the standby by the thread that saw another trial exit, and those must
agree as well."""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from controller.core.trialspec import Command
from controller.executors.local.executor import LocalExecutor
from controller.executors.local.warmstart import DEFAULT_PRELOAD, WarmPool, warm_module
from controller.ports import TrialExit

PROBE = """
import atexit, json, os, signal, subprocess, sys, time

mode = sys.argv[1]
if mode == "output":
    print("to stdout", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    print("accuracy=0.5")
elif mode == "exit":
    sys.exit(int(sys.argv[2]))
elif mode == "exit-message":
    sys.exit("bye")
elif mode == "raise":
    raise ValueError("boom")
elif mode == "identity":
    print(__name__, sys.argv[1:], os.getcwd() == sys.path[0], os.environ.get("PROBE"))
    print(sys.stdin.read() == "", os.getpgrp() == os.getpid())
elif mode == "environment":
    names = ("PROBE", "INHERITED", "KATIB_TRIAL_NAME", "PYTHONUNBUFFERED")
    print(*(os.environ.get(name) for name in names), "HPO_CONTROLLER_RUN" in os.environ)
elif mode == "taint":
    print(hasattr(json, "tainted"))
    json.tainted = True
elif mode == "sleep":
    print("sleeping", flush=True)
    time.sleep(60)
elif mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    time.sleep(60)
elif mode == "grandchild":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(child.pid, flush=True)
    time.sleep(60)
elif mode == "atexit":
    atexit.register(lambda: print("goodbye"))
    print("hello")
elif mode == "descriptors":
    print([fd for fd in range(256) if os.path.exists(f"/proc/self/fd/{fd}")])
"""


@pytest.fixture(scope="module")
def pool() -> Iterator[WarmPool]:
    warm = WarmPool(preload=("json", "numpy"))
    yield warm
    warm.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "probe.py").write_text(textwrap.dedent(PROBE))
    return tmp_path


def run(
    workdir: Path,
    pool: WarmPool | None,
    *args: str,
    stop: bool = False,
    deadline: float | None = None,
    spawn: bool = True,
    standby: bool = False,
) -> tuple[TrialExit, str]:
    """Run the probe as a trial: warm with a pool; cold without, by posix_spawn (`spawn`,
    the controller in the trial's working directory) or by subprocess (elsewhere), or
    (`standby`) held on standby and started as another trial is stopped."""
    way = "warm" if pool else "standby" if standby else "spawn" if spawn else "popen"
    here = contextlib.chdir(workdir) if spawn else contextlib.nullcontext()
    with here, mock.patch("os.posix_spawn", wraps=os.posix_spawn) as posix_spawn:
        executor = LocalExecutor(workdir, workdir / way, 0.5, warm=pool)
        command = Command(("python", "-m", "probe", *args), (("PROBE", "yes"),), None, deadline)
        if standby:
            log = _start_from_standby(executor, command)
        else:
            log = executor.start("trial", command)
        if stop:
            _wait_for_output(log)
            executor.stop("trial")
        exited = executor.next_exit(timeout=60)
        assert exited is not None, "the trial did not finish"
        executor.shutdown()
    assert posix_spawn.called == (way in ("spawn", "standby"))
    return exited, log.read_text()


def _start_from_standby(executor: LocalExecutor, command: Command) -> Path:
    """Start `command` as "trial" from the standby: held while another trial runs, started
    by that trial's exit (it is stopped). Returns the trial's log."""
    executor.start("before", Command(("python", "-m", "probe", "sleep"), (), None))
    held = executor.standby("trial", command)
    assert held is not None
    executor.stop("before")
    before = executor.next_exit(timeout=60)
    assert before == TrialExit("before", -15)
    assert executor.successor_of("before") == "trial"
    return held


def _wait_for_output(log: Path) -> None:
    import time

    for _ in range(500):  # the trial says it is ready before it is signalled
        if log.read_text():
            return
        time.sleep(0.01)
    raise AssertionError("the trial printed nothing")


def both(workdir: Path, pool: WarmPool, *args: str, **kwargs: object) -> tuple[tuple, tuple]:  # type: ignore[type-arg]
    """The warm run and the cold one, after checking that the cold ways agree."""
    spawned = run(workdir, None, *args, **kwargs)  # type: ignore[arg-type]
    popened = run(workdir, None, *args, spawn=False, **kwargs)  # type: ignore[arg-type, misc]
    assert spawned == popened
    held = run(workdir, None, *args, standby=True, **kwargs)  # type: ignore[arg-type, misc]
    assert held == spawned
    return run(workdir, pool, *args, **kwargs), spawned  # type: ignore[arg-type]


def test_only_python_dash_m_commands_start_warm() -> None:
    assert warm_module(["python", "-m", "trainers.mnist", "--lr=1"]) == "trainers.mnist"
    assert warm_module(["python3", "-m", "x"]) == "x"
    assert warm_module(["python", "train.py"]) is None
    assert warm_module(["python", "-u", "-m", "x"]) is None
    assert warm_module(["bash", "-m", "x"]) is None
    assert "torch" in DEFAULT_PRELOAD and "sklearn" in DEFAULT_PRELOAD


def test_a_trial_gets_the_controllers_environment_then_the_templates(
    workdir: Path, pool: WarmPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INHERITED", "from-the-controller")
    monkeypatch.setenv("PROBE", "overridden by the template")
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    (warm, warm_log), (cold, cold_log) = both(workdir, pool, "environment")
    assert warm.exit_code == cold.exit_code == 0
    assert warm_log == cold_log == "yes from-the-controller trial 1 True\n"


@pytest.mark.parametrize(
    "args,code",
    [(("output",), 0), (("exit", "3"), 3), (("exit-message",), 1), (("atexit",), 0)],
)
def test_output_and_exit_status_match(
    workdir: Path, pool: WarmPool, args: tuple[str, ...], code: int
) -> None:
    (warm, warm_log), (cold, cold_log) = both(workdir, pool, *args)
    assert warm.exit_code == cold.exit_code == code
    assert warm_log == cold_log


def test_an_uncaught_exception_fails_the_same_way(workdir: Path, pool: WarmPool) -> None:
    (warm, warm_log), (cold, cold_log) = both(workdir, pool, "raise")
    assert warm.exit_code == cold.exit_code == 1
    assert warm_log.splitlines()[-1] == cold_log.splitlines()[-1] == "ValueError: boom"
    assert warm_log.startswith("Traceback (most recent call last):")


def test_identity_environment_and_stdin_match(workdir: Path, pool: WarmPool) -> None:
    (_, warm_log), (_, cold_log) = both(workdir, pool, "identity")
    assert warm_log == cold_log == "__main__ ['identity'] True yes\nTrue True\n"


def test_a_trial_holds_only_its_standard_streams(workdir: Path, pool: WarmPool) -> None:
    read, write = os.pipe()
    os.set_inheritable(write, True)  # handed down to the controller, as a caller might
    try:
        (_, warm_log), (_, cold_log) = both(workdir, pool, "descriptors")
    finally:
        os.close(read)
        os.close(write)
    assert warm_log == cold_log == "[0, 1, 2]\n"


# glibc's posix_spawn leaves its two internal signals (SIGCANCEL and SIGSETXID, 32 and 33,
# which no glibc program can handle or block) ignored in the child; subprocess does not.
GLIBC_INTERNAL = (1 << 31) | (1 << 32)


def test_a_cold_trial_gets_the_default_action_of_signals_python_ignores(workdir: Path) -> None:
    """The controller, a Python process, ignores SIGPIPE; a trial must not inherit that
    (a shell pipeline in it would never see its reader go). Every cold way of starting a
    trial leaves it the same dispositions, glibc's internal signals aside."""
    script = "grep SigIgn /proc/self/status"
    ignored = {}
    for way in ("spawn", "popen", "standby"):
        here = contextlib.chdir(workdir) if way != "popen" else contextlib.nullcontext()
        with here:
            executor = LocalExecutor(workdir, workdir / f"signals-{way}", 0.5)
            command = Command(("sh", "-c", script), (), None)
            if way == "standby":
                log = _start_from_standby(executor, command)
            else:
                log = executor.start("trial", command)
            exited = executor.next_exit(timeout=30)
            executor.shutdown()
        assert exited is not None and exited.exit_code == 0
        ignored[way] = int(log.read_text().split()[1], 16)
    assert not ignored["spawn"] & (1 << (signal.SIGPIPE - 1))
    assert not ignored["spawn"] & (1 << (signal.SIGXFSZ - 1))
    assert len({mask & ~GLIBC_INTERNAL for mask in ignored.values()}) == 1
    assert ignored["spawn"] == ignored["standby"]


def test_trials_do_not_see_each_others_state(workdir: Path, pool: WarmPool) -> None:
    first = run(workdir, pool, "taint")[1]
    second = run(workdir, pool, "taint")[1]
    assert first == second == "False\n"


@pytest.mark.parametrize("args,code", [(("sleep",), -15), (("stubborn",), -9)])
def test_stopping_signals_the_same_way(
    workdir: Path, pool: WarmPool, args: tuple[str, ...], code: int
) -> None:
    (warm, _), (cold, _) = both(workdir, pool, *args, stop=True)
    assert warm.exit_code == cold.exit_code == code


def test_a_deadline_stops_the_trial_the_same_way(workdir: Path, pool: WarmPool) -> None:
    (warm, _), (cold, _) = both(workdir, pool, "sleep", deadline=0.5)
    assert (warm.exit_code, warm.deadline_exceeded) == (cold.exit_code, cold.deadline_exceeded)
    assert (warm.exit_code, warm.deadline_exceeded) == (-15, True)


@pytest.mark.parametrize("standby", [False, True])
def test_stopping_takes_the_whole_process_group(
    workdir: Path, pool: WarmPool, standby: bool
) -> None:
    for executor_pool in (pool, None):
        if executor_pool is not None and standby:
            continue  # warm starts are not held on standby
        exited, log = run(workdir, executor_pool, "grandchild", stop=True, standby=standby)
        assert exited.exit_code == -15
        grandchild = int(log.split()[0])
        _assert_gone(grandchild)


def _assert_gone(pid: int) -> None:
    import time

    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return  # a zombie waiting for init: it no longer runs
        time.sleep(0.01)
    raise AssertionError(f"process {pid} outlived its trial")


def test_closing_the_pool_kills_its_trials(workdir: Path) -> None:
    own = WarmPool(preload=())
    executor = LocalExecutor(workdir, workdir / "closing", 0.5, warm=own)
    log = executor.start("trial", Command(("python", "-m", "probe", "sleep"), (), None))
    _wait_for_output(log)
    own.close()
    exited = executor.next_exit(timeout=30)
    executor.shutdown()
    assert exited is not None and exited.exit_code == -9


@pytest.mark.slow
def test_the_mnist_trainer_runs_warm_like_cold(workdir: Path) -> None:
    pool = WarmPool()
    try:
        args = ("python", "-m", "trainers.mnist", "--epochs=2", "--seed=3")
        outputs = []
        for warm in (pool, None):
            executor = LocalExecutor(workdir, workdir / f"mnist-{warm is not None}", warm=warm)
            log = executor.start("trial", Command(args, (), None))
            exited = executor.next_exit(timeout=120)
            executor.shutdown()
            assert exited is not None and exited.exit_code == 0
            outputs.append(log.read_text())
        assert outputs[0] == outputs[1]
        assert outputs[0].count("accuracy=") == 2
    finally:
        pool.close()


@pytest.mark.parametrize("spawn", [True, False])
@pytest.mark.parametrize("program", ["/no/such/trainer", "no-such-trainer"])
def test_a_missing_command_fails_the_trial_with_127(
    workdir: Path, spawn: bool, program: str
) -> None:
    with contextlib.chdir(workdir) if spawn else contextlib.nullcontext():
        executor = LocalExecutor(workdir, workdir / "missing", 0.5)
        log = executor.start("trial", Command((program, "--lr=1"), (), None))
        exited = executor.next_exit(timeout=30)
        executor.shutdown()
    assert exited is not None and exited.exit_code == 127
    assert log.read_text() == (
        f"cannot start {program!r}: [Errno 2] No such file or directory: {program!r}\n"
    )


@pytest.mark.parametrize("spawn", [True, False])
def test_a_bare_command_name_is_looked_up_on_the_trials_path(workdir: Path, spawn: bool) -> None:
    tools = workdir / "tools"
    tools.mkdir()
    (tools / "not-a-program").mkdir()
    (tools / "probe-tool").write_text('#!/bin/sh\necho "tool $1"\n')
    (tools / "probe-tool").chmod(0o755)
    path = ("PATH", f"{tools / 'not-a-program'}:{tools}:{os.environ['PATH']}")
    with contextlib.chdir(workdir) if spawn else contextlib.nullcontext():
        executor = LocalExecutor(workdir, workdir / "lookup", 0.5)
        log = executor.start("trial", Command(("probe-tool", "ran"), (path,), None))
        exited = executor.next_exit(timeout=30)
        executor.shutdown()
    assert exited is not None and exited.exit_code == 0
    assert log.read_text() == "tool ran\n"


def test_a_warm_start_is_not_held_on_standby(workdir: Path, pool: WarmPool) -> None:
    """Its start is a round trip to the zygote: the run loop makes it, as for any trial
    the executor does not hold."""
    executor = LocalExecutor(workdir, workdir / "held", 0.5, warm=pool)
    try:
        assert executor.standby("trial", Command(("python", "-m", "probe"), (), None)) is None
        assert executor.standby("cold", Command(("python", "probe.py"), (), None)) is not None
    finally:
        executor.shutdown()
