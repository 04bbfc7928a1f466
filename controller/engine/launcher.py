"""Starting trials: the trial template substituted with the trial's values, the command
made to fit the executor (its own metrics file or event folder, the Push address, the
algorithm's workspace), handed to the executor, and the running record made."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from controller.algorithms.base import TrialWorkspace
from controller.core.events import event, trial_fields
from controller.core.reconcile import assignments_shown
from controller.core.records import ExperimentRecord, TrialRecord, TrialState
from controller.core.trialspec import (
    Command,
    ConfigMaps,
    trial_command,
    trial_values,
    trial_workload,
)
from controller.engine.journal import TrialJournal
from controller.metrics.collectors import PUSH_ENVIRONMENT, Collector
from controller.ports import Clock, StatusSink, TrialExecutor
from generator.katib.models import Experiment

log = logging.getLogger("hpo-controller")


@dataclass(frozen=True)
class Prepared:
    """A trial ready to start: its command, and the metrics file it writes (None: StdOut)."""

    trial: TrialRecord
    command: Command
    metrics_file: Path | None


class Launcher:
    """Starts an experiment's trials, and knows where each one's output and metrics go."""

    def __init__(
        self,
        experiment: Experiment,
        record: ExperimentRecord,
        executor: TrialExecutor,
        sink: StatusSink,
        config_maps: ConfigMaps,
        collector: Collector,
        clock: Clock,
        *,
        workspace: TrialWorkspace | None = None,
        journal: TrialJournal | None = None,
    ):
        self.experiment, self.record, self.executor = experiment, record, executor
        self.sink, self.config_maps, self.clock = sink, config_maps, clock
        self.collector, self.workspace, self.journal = collector, workspace, journal
        self.logs: dict[str, Path] = {}
        self.metrics: dict[str, Path | None] = {}
        self.folders: dict[str, str] = {}

    def start(self, trial: TrialRecord, announce: bool = True) -> TrialRecord:
        """Start the trial; its record, running. `announce`: say so in the log now."""
        prepared = self.prepare(trial)
        log_path = self.executor.start(trial.name, prepared.command)
        running = self.running(prepared, log_path, self.clock())
        if announce:
            self.announce(running)
        return running

    def prepare(self, trial: TrialRecord) -> Prepared:
        """The trial's command, and the files and folders it is to find made ready."""
        template = self.experiment.spec.trial_template
        assert template is not None
        namespace = self.record.namespace or "default"
        values = trial_values(template, dict(trial.assignments), trial.name, namespace)
        if self.executor.workloads:  # the executor creates the object: no local paths
            workload = trial_workload(self.experiment, values, self.config_maps)
            if self.collector.kind == "StdOut":
                return Prepared(trial, workload, None)
            brought = self.executor.trial_file(trial.name, ".metrics")  # the executor fills it
            return Prepared(trial, replace(workload, metrics_file=str(brought)), brought)
        command = trial_command(self.experiment, values, self.config_maps)
        metrics_file = None  # StdOut: the metrics are in the trial's output
        if self.collector.kind != "StdOut":
            metrics_file = self.executor.trial_file(trial.name, ".metrics")
            command = self._local(command, metrics_file)
        if self.workspace is not None:
            command = self.workspace.mount(trial, command)
        return Prepared(trial, command, metrics_file)

    def running(self, prepared: Prepared, log_path: Path, started_at: str) -> TrialRecord:
        """The record of a prepared trial that started at `started_at`."""
        trial = prepared.trial
        self.logs[trial.name] = log_path
        self.metrics[trial.name] = prepared.metrics_file
        running = replace(
            trial,
            state=TrialState.RUNNING,
            reason="TrialRunning",
            message=trial.message if trial.restarts else "",
            start_time=started_at,
            log=self._shown(log_path),
        )
        if self.journal is not None:
            self.journal.started(running, prepared.metrics_file)
        return running

    def reports(self, trial: str) -> dict[str, list[float]]:
        """What the trial has reported so far, by metric."""
        values, _ = self.collector.collect(self.logs[trial], self.metrics[trial])
        return values

    def last_lines(self, trial: str, count: int = 3) -> list[str]:
        """The last lines of the trial's output (its last 4 KiB at most), for a log line
        that says why it failed; none where its output cannot be read."""
        path = self.logs.get(trial)
        if path is None:
            return []
        try:
            with path.open("rb") as output:
                output.seek(0, os.SEEK_END)
                output.seek(max(output.tell() - 4096, 0))
                tail = output.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line for line in tail.splitlines() if line.strip()][-count:]

    def announce(self, trial: TrialRecord) -> None:
        """Say in the log that the trial started."""
        shown = assignments_shown(trial.assignments)
        again = f", run {trial.restarts + 1}" if trial.restarts else ""
        fields = trial_fields(self.experiment.name, trial) | {"run": trial.restarts + 1}
        log.info(
            "%s started (%s%s)", trial.name, shown, again, extra=event("trial_started", **fields)
        )

    def _shown(self, log_path: Path) -> str:
        """The log's path as the status shows it: relative to the repository when inside."""
        parent, name = os.path.split(log_path)
        folder = self.folders.get(parent)
        if folder is None:  # one folder for every trial: resolved once, not per trial
            folder = self.folders[parent] = relative(Path(parent), self.sink.root)
        return name if folder == "." else f"{folder}/{name}"

    def _local(self, command: Command, metrics_file: Path) -> Command:
        """Each trial gets its own metrics file (or event folder) where a pod has its own
        filesystem: the File or TensorFlowEvent collector's path is rewritten in its
        arguments and environment, and a Push trial is told where to push."""
        collector = self.collector
        if collector.kind in ("File", "TensorFlowEvent") and collector.path:
            path = collector.path
            if collector.kind == "TensorFlowEvent":  # a folder of the trial's own
                metrics_file.mkdir(parents=True)  # trial_file left nothing there
                path = path.rstrip("/") or "/"
            return command.relocated(path, str(metrics_file))
        if collector.kind == "Push":
            return replace(command, env=(*command.env, (PUSH_ENVIRONMENT, str(metrics_file))))
        return command


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` where it is inside it, else as it is."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
