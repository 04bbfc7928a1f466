"""The summary's cost: writing the Markdown summary and its three pictures of an experiment
of 1,000 trials with 20 reported steps each, against writing its status YAML alone, in
the same run on the same records.

    python bench/report.py [--trials 1000] [--steps 20] [--rounds 5]

Both sides write their files to disk as the git sink does (`atomicfile`, synced). The
status side is `status_file` (the whole document dumped, as a run's final write is); the
summary side is `summary_files` (summary, objective, curves and parallel coordinates,
drawn by matplotlib) written the same way. matplotlib's import is paid once, before the
rounds, as a controller pays it once. The figures are the medians of the rounds.
Target: the summary within 5x of the status write. In a run the summary is written by the
commit thread (`controller.service.run.Checkpoints`), never by the run loop.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from controller.core import plots
from controller.core.records import (
    Completion,
    ExperimentRecord,
    MetricSummary,
    TrialRecord,
    TrialState,
)
from controller.core.results import status_file, summary_files
from generator import (
    SearchSpace,
    categorical,
    container,
    double,
    experiment,
    integer,
    job,
    maximize,
    median_stop,
    random_search,
)
from generator.files import atomicfile
from generator.katib.defaults import with_defaults


def the_experiment(trials: int):  # type: ignore[no-untyped-def]
    space = SearchSpace(
        lr=double(0.0001, 0.1, distribution="logUniform"),
        layers=integer(1, 6),
        optimizer=categorical(["sgd", "adam", "rmsprop"]),
    )
    return with_defaults(
        experiment(
            "report-bench",
            objective=maximize("accuracy", goal=0.99, additional_metrics=["loss"]),
            algorithm=random_search(random_state=1),
            early_stopping=median_stop(min_trials_required=3, start_step=4),
            parameters=space,
            max_trial_count=trials,
            parallel_trial_count=4,
            trial=job(container(image="t:1", command=["t"], args=space.cli_args())),
        )
    )


def the_record(trials: int, steps: int) -> ExperimentRecord:
    """Trials as a run leaves them: most succeeded with a curve of `steps` reports, some
    stopped early (shorter curves), a few failed; times a second apart."""
    rng = random.Random(7)
    records = []
    for index in range(trials):
        lr = 10 ** rng.uniform(-4, -1)
        ceiling = 0.99 - 0.25 * abs(-2.5 - math.log10(lr)) / 1.5  # best near lr = 0.003
        roll = rng.random()
        state = (
            TrialState.FAILED
            if roll < 0.03
            else TrialState.EARLY_STOPPED
            if roll < 0.25
            else TrialState.SUCCEEDED
        )
        reported = 0 if state is TrialState.FAILED else steps
        if state is TrialState.EARLY_STOPPED:
            reported = rng.randint(4, steps - 1)
        accuracy = tuple(
            round(ceiling * (1 - 0.8 ** (s + 1)) + rng.gauss(0, 0.01), 6) for s in range(reported)
        )
        loss = tuple(round(2.3 * 0.85**s + rng.gauss(0, 0.02), 6) for s in range(reported))
        metrics = (
            ()
            if not reported
            else (
                MetricSummary("accuracy", min(accuracy), max(accuracy), accuracy[-1], accuracy),
                MetricSummary("loss", min(loss), max(loss), loss[-1], loss),
            )
        )
        second = index % 60
        minute = index // 60 % 60
        hour = index // 3600
        records.append(
            TrialRecord(
                f"report-bench-{index + 1:04d}",
                (
                    ("lr", f"{lr:.6g}"),
                    ("layers", str(rng.randint(1, 6))),
                    ("optimizer", rng.choice(["sgd", "adam", "rmsprop"])),
                ),
                state,
                {
                    TrialState.FAILED: "TrialFailed",
                    TrialState.EARLY_STOPPED: "TrialEarlyStopped",
                }.get(state, "TrialSucceeded"),
                "exit code 1" if state is TrialState.FAILED else "",
                metrics,
                start_time=f"2026-01-01T{hour:02d}:{minute:02d}:{second:02d}Z",
                completion_time=f"2026-01-01T{hour:02d}:{minute:02d}:{second:02d}.9Z",
                exit_code=1 if state is TrialState.FAILED else 0,
                log=f".hpo/logs/dev/report-bench/report-bench-{index + 1:04d}.log",
            )
        )
    record = ExperimentRecord("report-bench", "hpo-dev", records, "2026-01-01T00:00:00Z")
    record.completion_time = "2026-01-01T01:00:00Z"
    record.completion = Completion("Succeeded", "ExperimentMaxTrialsReached", "done")
    return record


def written(files: dict[str, str], folder: Path) -> None:
    for name, text in files.items():
        atomicfile.write_text(folder / name, text, sync=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    spec = the_experiment(args.trials)
    record = the_record(args.trials, args.steps)
    status_times, summary_times, parts = [], [], {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for _ in range(args.rounds):
            began = time.perf_counter()
            written(status_file(spec, record, "dev"), folder)
            status_times.append(time.perf_counter() - began)
            began = time.perf_counter()
            files = summary_files(spec, record, "dev")
            written(files, folder)
            summary_times.append(time.perf_counter() - began)
        for name, text in files.items():
            parts[name] = len(text.encode())
        for suffix, draw in (
            ("-objective.svg", plots.objective_plot),
            ("-curves.svg", plots.curves_plot),
            ("-parallel.svg", plots.parallel_plot),
        ):
            times = []
            for _ in range(args.rounds):
                began = time.perf_counter()
                draw(spec, record.trials)
                times.append(time.perf_counter() - began)
            parts[f"{suffix} (ms)"] = round(median(times) * 1000)
    status, summary = median(status_times), median(summary_times)
    print(f"{args.trials} trials x {args.steps} steps, median of {args.rounds} rounds")
    print(f"status YAML alone (baseline): {status * 1000:8.1f} ms")
    print(f"summary and its pictures:     {summary * 1000:8.1f} ms ({summary / status:.2f}x)")
    for name, size in parts.items():
        print(f"  {name}: {size}" + ("" if name.endswith("(ms)") else " bytes"))
    target = summary / status <= 5
    print(f"target (within 5x of the status write): {'met' if target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
