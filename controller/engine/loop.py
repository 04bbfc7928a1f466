"""The run loop of one experiment on this machine: the adapters (suggester, executor,
status sink, clock) around the pure reconcile core. It asks reconcile what to do, starts
and stops trials, blocks until a trial exits, records what it reported, and repeats until
the experiment completes."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from controller.algorithms.base import (
    SuggesterFactory,
    Suggestion,
    TrialSuggester,
    as_trial_suggester,
)
from controller.algorithms.optuna_backed import RESULT_INDEPENDENT, make_suggester
from controller.algorithms.pbt import PARENT_LABEL
from controller.console.progress import flush_log
from controller.core.reconcile import (
    Tally,
    best_trial,
    free_slots,
    objective_value,
    reconcile,
    replaceable_unread,
)
from controller.core.records import ExperimentRecord, MetricSummary, TrialRecord, TrialState
from controller.core.results import StatusWriter
from controller.core.status import trial_from_document
from controller.core.trialspec import (
    Command,
    ConfigMaps,
    trial_command,
    trial_demand,
    trial_values,
)
from controller.earlystopping.medianstop import MedianStop
from controller.engine.background import BackgroundSuggester, InlineSuggester, Pending
from controller.engine.journal import JournalEntries, TrialJournal
from controller.engine.journal import read as read_journal
from controller.errors import ControllerError
from controller.metrics.collectors import PUSH_ENVIRONMENT, Collector, collector_for, summarize
from controller.ports import Clock, StatusSink, TrialExecutor, TrialExit
from generator.katib.models import Experiment

log = logging.getLogger("hpo-controller")
EARLY_STOPPING_TICK = 0.25  # seconds between checks of running trials' reports
SAVE_INTERVAL = 1.0  # seconds between rewrites of a running experiment's status


def utc_now() -> str:
    """The time as Katib's status has it: 2024-05-01T12:00:00.123456Z."""
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def wanted_metrics(experiment: Experiment) -> list[str]:
    objective = experiment.spec.objective
    if objective is None:
        return []
    return [objective.objective_metric_name, *(objective.additional_metric_names or [])]


def run_experiment(
    experiment: Experiment,
    *,
    environment: str,
    executor: TrialExecutor,
    sink: StatusSink,
    config_maps: ConfigMaps | None = None,
    previous: ExperimentRecord | None = None,
    checkpoint: Callable[[ExperimentRecord], None] | None = None,
    on_change: Callable[[ExperimentRecord], None] | None = None,
    clock: Clock = utc_now,
    suggester_factory: SuggesterFactory = make_suggester,
    volume: Path | None = None,
    journal: TrialJournal | None = None,
) -> ExperimentRecord:
    """Run `experiment` to completion. The status is written as the run goes (at most every
    SAVE_INTERVAL seconds); `checkpoint` sees the record after each write, `on_change` after
    each change. With `previous` (an unfinished run of the same spec, read back from its
    status), the run continues: finished trials count, trials that were running are run
    again, and the algorithm is rebuilt from the finished ones. Suggestions are computed on
    their own thread while the loop goes on recording and stopping trials. `volume` is the
    experiment's persistent folder (Katib's FromVolume claim): pbt keeps each trial's
    checkpoint folder there. `journal` (whose path the executor's exits are written to
    first) is read back on resume for the trials that ended after the status was last
    written, and emptied once the status holds them."""
    spec = experiment.spec
    if spec.algorithm is None or spec.objective is None:
        raise ControllerError(f"experiment {experiment.name!r} has no algorithm or objective")
    suggester = as_trial_suggester(
        suggester_factory(spec.algorithm, spec.parameters or [], spec.objective.type)
    )
    wanted = wanted_metrics(experiment)
    collector = collector_for(spec.metrics_collector_spec, wanted)
    stopper = _early_stopping(experiment)
    early: set[str] = set()
    if previous is not None:
        if journal is not None:
            previous = _recovered(previous, read_journal(journal.path), collector, wanted, sink)
        record = _resumed(previous, experiment, suggester)
    else:
        record = ExperimentRecord(
            experiment.name, experiment.metadata.namespace, start_time=clock()
        )
    if journal is not None and previous is None:
        journal.reset()  # a fresh run: nothing of an earlier one applies
    launch = _Launcher(experiment, record, executor, sink, config_maps or {}, collector, clock)
    launch.journal = journal
    launch.checkpoints = _checkpoints(experiment, volume, fresh=previous is None)
    independent = spec.algorithm.algorithm_name in RESULT_INDEPENDENT
    background: BackgroundSuggester | InlineSuggester = (
        InlineSuggester(suggester) if independent else BackgroundSuggester(suggester)
    )
    pending: Pending | None = None
    starved = False
    # Results told to the algorithm so far, and how many it had been told when the pending
    # request was made: an empty answer means "wait for results" only if none came since.
    told = 0
    told_at_request = 0
    ready: list[Suggestion] = []
    # The next trial, held by the executor to start the moment a running trial exits.
    standby: _Standby | None = None
    stopping: set[str] = set()
    ended = False
    saved_at = float("-inf")
    dirty = False
    status_text = StatusWriter(experiment, environment)

    def save(force: bool = False) -> None:
        """Rewrite the status at most every SAVE_INTERVAL seconds (always when forced). A
        trial that ends between writes is simply run again if the controller dies."""
        nonlocal saved_at, dirty
        if on_change is not None:
            on_change(record)
        now = time.monotonic()
        if not force and now - saved_at < SAVE_INTERVAL:
            dirty = True
            return
        sink.write(experiment.name, status_text(record))
        saved_at, dirty = now, False
        if checkpoint is not None:
            checkpoint(record)

    capacity = _capacity(experiment, executor, config_maps or {})
    # Algorithms that do not learn from results get their next suggestions computed
    # ahead, so a free slot is filled at once instead of after a round trip.
    lookahead = min(spec.parallel_trial_count or 1, capacity) if independent else 0
    # The loop's own view of the trials, kept up to date as they start and end: no turn
    # goes over every trial.
    tally = Tally.of(spec, record.trials)
    position = {trial.name: index for index, trial in enumerate(record.trials)}
    reruns = [i for i, t in enumerate(record.trials) if t.state is TrialState.PENDING]
    # Trials that ended since the last turn: the algorithm hears of them once their slots
    # have been filled again, so that a trial that ends is replaced first of all.
    unheard: list[TrialRecord] = []

    def put(index: int, trial: TrialRecord) -> None:
        tally.change(record.trials[index], trial)
        record.trials[index] = trial

    def hear() -> None:
        """Tell the algorithm of the trials that ended since it last heard."""
        nonlocal told
        told += len(unheard)
        for finished in unheard:
            value = objective_value(spec, finished) if finished.state.is_scored else None
            background.observe(finished.name, _suggestion(finished), value)
        unheard.clear()

    def next_trial(suggestion: Suggestion) -> TrialRecord:
        name = f"{experiment.name}-{len(record.trials) + 1:04d}"
        return TrialRecord(name, suggestion.assignments, labels=suggestion.labels)

    def add(trial: TrialRecord) -> TrialRecord:
        position[trial.name] = len(record.trials)
        record.trials.append(trial)
        tally.change(None, trial)
        return trial

    def open_trial(suggestion: Suggestion, announce: bool = True) -> TrialRecord:
        """Create and start the next trial."""
        return add(launch.start(next_trial(suggestion), announce))

    def stand_by() -> None:
        """Hand the next ready suggestion's trial to the executor, to start when a running
        trial exits; only where no result of that trial can end the experiment, as for
        a replacement started before a result is read."""
        nonlocal standby
        if (
            standby is not None
            or not ready
            or record.completion is not None
            or free_slots(spec, tally, capacity)
            or not replaceable_unread(spec, tally, capacity)
        ):
            return
        prepared = launch.prepare(next_trial(ready[0]))
        log_path = executor.standby(prepared.trial.name, prepared.command)
        if log_path is not None:
            standby = _Standby(ready.pop(0), prepared, log_path)

    def take_back() -> None:
        """Withdraw the trial on standby, its suggestion ready again; if it has started
        already, the exit that started it says so and the loop records it then."""
        nonlocal standby
        if standby is not None and executor.withdraw():
            ready.insert(0, standby.suggestion)
            standby = None

    def receive() -> None:
        """Take the suggestions a finished request holds."""
        nonlocal pending, ended, starved
        assert pending is not None
        new = pending.result()
        ready.extend(new)
        ended = background.exhausted
        # Nothing now, more later (hyperband waits for a rung's results): ask again once a
        # trial has finished, not in a busy loop until then; at once where results were
        # told after this request was made (it was answered without them).
        starved = not new and not ended and told == told_at_request
        pending = None

    save(force=True)
    if journal is not None:
        journal.reset()  # what it told is in the status now
    try:
        while True:
            suggestions_ended = ended and not ready and standby is None
            decision = reconcile(spec, tally, suggestions_ended, capacity)
            if decision.completion is not None and record.completion is None:
                record.completion = decision.completion
            if standby is not None and (record.completion is not None or decision.start):
                take_back()  # the experiment is over, or the loop is to fill a slot itself
            for name in decision.stop:
                if name not in stopping:
                    stopping.add(name)
                    if journal is not None:
                        journal.stopping(name, early=False)
                    executor.stop(name)
            for index in reruns:  # trials the controller was running when it died
                trial = record.trials[index]
                put(index, launch.start(trial) if record.completion is None else _unrun(trial))
            reruns = []
            if record.completion is not None and not tally.active:
                hear()
                record.completion_time = clock()
                save(force=True)
                return record
            if pending is not None and pending.done():
                receive()
            if record.completion is not None:
                if unheard:
                    hear()
                    save()
            else:
                # (none while a trial that started from the standby is not recorded yet:
                # the exit that started it comes first, then this trial's name is free)
                starting = ready[: decision.start] if standby is None else []
                del ready[: len(starting)]
                for suggestion in starting:
                    open_trial(suggestion)
                changed = bool(starting or unheard)
                if unheard:
                    hear()
                    starved = False  # a result came in: the algorithm may have more now
                if changed:
                    save()
                held = len(ready) + (standby is not None)
                wanted_now = decision.start - len(starting) + lookahead - held
                if spec.max_trial_count is not None:  # never more than the budget holds
                    room = spec.max_trial_count - len(record.trials) - held
                    wanted_now = min(wanted_now, room)
                if pending is None and not ended and not starved and wanted_now > 0:
                    pending = background.request(wanted_now)
                    told_at_request = told
                    if pending.done():  # computed inline
                        receive()
                        if len(starting) < decision.start:
                            continue  # slots wait for them: start them now
                    else:
                        pending.add_done_callback(lambda _: executor.wake())
            if not tally.active and pending is None:
                if ended:
                    continue  # reconcile completes it with SuggestionEndReached
                raise ControllerError(
                    f"experiment {experiment.name!r}: the algorithm suggests nothing while "
                    "no trial runs"
                )
            stand_by()
            waits = [EARLY_STOPPING_TICK] if stopper else []
            if dirty:
                waits.append(max(saved_at + SAVE_INTERVAL - time.monotonic(), 0.0))
            exited = executor.next_exit(timeout=min(waits) if waits else None)
            if exited is None:
                if dirty and time.monotonic() - saved_at >= SAVE_INTERVAL:
                    save()
                if stopper is not None and record.completion is None:
                    for name in _breaking(stopper, experiment, record, collector, launch, stopping):
                        log.info("%s early stopped", name)
                        early.add(name)
                        stopping.add(name)
                        if journal is not None:
                            journal.stopping(name, early=True)
                        executor.stop(name)
                continue
            # A trial ended: the next turn writes the status, once its slot is filled.
            ended_at = clock()
            replacement = None
            if exited.successor is not None:  # its slot filled from the standby already
                assert standby is not None and standby.prepared.trial.name == exited.successor
                replacement = add(launch.running(standby.prepared, standby.log_path, ended_at))
                standby = None
            elif (
                ready
                and standby is None
                and record.completion is None
                and replaceable_unread(spec, tally, capacity)
            ):
                # its slot is filled before its result is read (said after its result)
                replacement = open_trial(ready.pop(0), announce=False)
            index = position[exited.trial]
            trial = record.trials[index]
            values, note = collector.collect(launch.logs[trial.name], launch.metrics[trial.name])
            finished = _finish(
                trial,
                exited,
                exited.trial in stopping,
                summarize(values),
                wanted,
                ended_at,
                early_stopped=trial.name in early,
                note=note,
            )
            put(index, finished)
            if journal is not None:
                journal.ended(finished)
            unheard.append(finished)
            log.info("%s", _describe(finished))
            if replacement is not None:
                launch.announce(replacement)
    finally:
        if standby is not None:
            executor.withdraw()  # one that started anyway is stopped with the executor
        flush_log(log)
        background.close()


def _capacity(experiment: Experiment, executor: TrialExecutor, config_maps: ConfigMaps) -> int:
    """How many trials run at once: parallelTrialCount, or fewer where the executor's
    machine cannot hold that many of this experiment's trials (said in the log)."""
    demand = trial_demand(experiment, config_maps)
    capacity = executor.capacity(demand)
    parallel = experiment.spec.parallel_trial_count or 1
    if capacity < parallel:
        log.info(
            "%s: %d trials at a time, not parallelTrialCount %d: each takes %s, and this "
            "machine holds %d such trials",
            experiment.name,
            capacity,
            parallel,
            demand.describe(),
            capacity,
        )
    return capacity


def _suggestion(trial: TrialRecord) -> Suggestion:
    return Suggestion(trial.assignments, trial.labels)


def _recovered(
    previous: ExperimentRecord,
    entries: JournalEntries,
    collector: Collector,
    wanted: list[str],
    sink: StatusSink,
) -> ExperimentRecord:
    """The previous run with what its journal knows and its status did not: trials
    started after the status was last written, and trials that ended (their metrics read
    from their logs where the loop had not read them yet). A journal entry that does not
    describe a trial is a ControllerError."""
    try:
        return _apply_journal(previous, entries, collector, wanted, sink.root)
    except (KeyError, TypeError, ValueError) as err:
        raise ControllerError(
            f"the trial journal of {previous.name!r} holds an entry that is not a trial "
            f"({type(err).__name__}: {err}); remove the journal under .hpo/journal/ to "
            "resume from the status file alone"
        ) from err


def _apply_journal(
    previous: ExperimentRecord,
    entries: JournalEntries,
    collector: Collector,
    wanted: list[str],
    root: Path,
) -> ExperimentRecord:
    position = {trial.name: index for index, trial in enumerate(previous.trials)}
    for name, (document, _) in entries.started.items():
        trial = trial_from_document(document)
        if name not in position:
            position[name] = len(previous.trials)
            previous.trials.append(trial)
        elif previous.trials[position[name]].state.is_active:
            previous.trials[position[name]] = trial  # its latest start
    recovered = 0
    for name, index in position.items():
        trial = previous.trials[index]
        if not trial.state.is_active:
            continue
        if name in entries.ended:
            previous.trials[index] = trial_from_document(entries.ended[name])
        elif name in entries.exited and trial.log:
            exited = entries.exited[name]
            log_path = Path(trial.log) if Path(trial.log).is_absolute() else root / trial.log
            metrics = entries.started.get(name, ({}, None))[1]
            values, note = collector.collect(log_path, Path(metrics) if metrics else None)
            previous.trials[index] = _finish(
                trial,
                TrialExit(name, exited.code, exited.deadline_exceeded),
                name in entries.stopping,
                summarize(values),
                wanted,
                exited.at,
                early_stopped=entries.stopping.get(name, False),
                note=note,
            )
        else:
            continue
        recovered += 1
    if recovered:
        log.info("%s: %d trials that ended after the last status write", previous.name, recovered)
    return previous


def _resumed(
    previous: ExperimentRecord, experiment: Experiment, suggester: TrialSuggester
) -> ExperimentRecord:
    """The previous run, its interrupted trials queued to run again."""
    spec = experiment.spec
    history: list[tuple[str, Suggestion, float | None]] = []
    for index, trial in enumerate(previous.trials):
        if trial.state.is_active:
            previous.trials[index] = replace(
                trial,
                state=TrialState.PENDING,
                reason="TrialRestarted",
                message="run again: hpo-controller stopped while it ran",
                metrics=(),
                start_time=None,
                completion_time=None,
                exit_code=None,
                restarts=trial.restarts + 1,
            )
            suggester.trial_rerun(trial.name, _suggestion(trial))
        else:
            succeeded = trial.state.is_scored
            value = objective_value(spec, trial) if succeeded else None
            history.append((trial.name, _suggestion(trial), value))
    suggester.rebuild(history)
    log.info(
        "%s: resuming with %d finished trials, %d to run again",
        experiment.name,
        len(history),
        len(previous.trials) - len(history),
    )
    return previous


@dataclass(frozen=True)
class _Prepared:
    """A trial ready to start: its command, and the metrics file it writes (None: StdOut)."""

    trial: TrialRecord
    command: Command
    metrics_file: Path | None


@dataclass(frozen=True)
class _Standby:
    """The trial the executor holds to start when a running trial exits."""

    suggestion: Suggestion
    prepared: _Prepared
    log_path: Path


class _Launcher:
    """Starts trials: substitutes the template, hands the command to the executor."""

    def __init__(
        self,
        experiment: Experiment,
        record: ExperimentRecord,
        executor: TrialExecutor,
        sink: StatusSink,
        config_maps: ConfigMaps,
        collector: Collector,
        clock: Clock,
    ):
        self.experiment, self.record, self.executor = experiment, record, executor
        self.sink, self.config_maps, self.clock = sink, config_maps, clock
        self.collector = collector
        self.logs: dict[str, Path] = {}
        self.metrics: dict[str, Path | None] = {}
        self.checkpoints: _CheckpointFolders | None = None
        self.journal: TrialJournal | None = None
        self.folders: dict[str, str] = {}

    def start(self, trial: TrialRecord, announce: bool = True) -> TrialRecord:
        """Start the trial; its record, running. `announce`: say so in the log now."""
        prepared = self.prepare(trial)
        log_path = self.executor.start(trial.name, prepared.command)
        running = self.running(prepared, log_path, self.clock())
        if announce:
            self.announce(running)
        return running

    def prepare(self, trial: TrialRecord) -> _Prepared:
        """The trial's command, and the files and folders it is to find made ready."""
        template = self.experiment.spec.trial_template
        assert template is not None
        namespace = self.record.namespace or "default"
        values = trial_values(template, dict(trial.assignments), trial.name, namespace)
        command = trial_command(self.experiment, values, self.config_maps)
        metrics_file = None  # StdOut: the metrics are in the trial's output
        if self.collector.kind != "StdOut":
            metrics_file = self.executor.trial_file(trial.name, ".metrics")
            command = self._local(command, metrics_file)
        if self.checkpoints is not None:
            command = self.checkpoints.mount(trial, command)
        return _Prepared(trial, command, metrics_file)

    def running(self, prepared: _Prepared, log_path: Path, started_at: str) -> TrialRecord:
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

    @staticmethod
    def announce(trial: TrialRecord) -> None:
        """Say in the log that the trial started."""
        shown = ", ".join(f"{k}={v}" for k, v in trial.assignments)
        again = f", run {trial.restarts + 1}" if trial.restarts else ""
        log.info("%s started (%s%s)", trial.name, shown, again)

    def _shown(self, log_path: Path) -> str:
        """The log's path as the status shows it: relative to the repository when inside."""
        parent, name = os.path.split(log_path)
        folder = self.folders.get(parent)
        if folder is None:  # one folder for every trial: resolved once, not per trial
            folder = self.folders[parent] = _relative(Path(parent), self.sink.root)
        return name if folder == "." else f"{folder}/{name}"

    def _local(self, command: Command, metrics_file: Path) -> Command:
        """Each local trial gets its own metrics file (or event folder) where a pod has its
        own filesystem: the File or TensorFlowEvent collector's path is rewritten in its
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


class _CheckpointFolders:
    """pbt's trial folders, as Katib mounts them: each trial sees its own folder at the
    `suggestion_trial_dir` path, a copy of its parent's when it has one. Locally the path
    is rewritten in the trial's arguments, environment and working directory."""

    def __init__(self, volume: Path, trial_dir: str):
        self.volume, self.trial_dir = volume, trial_dir.rstrip("/") or "/"

    def mount(self, trial: TrialRecord, command: Command) -> Command:
        folder = self.volume / trial.name
        if folder.exists():  # a trial run again starts from its parent, not its own leftovers
            shutil.rmtree(folder)
        parent = dict(trial.labels).get(PARENT_LABEL)
        if parent and (self.volume / parent).is_dir():
            shutil.copytree(self.volume / parent, folder)
        else:
            if parent:
                log.warning("%s: its parent %s left no checkpoint folder", trial.name, parent)
            folder.mkdir(parents=True)
        return command.relocated(self.trial_dir, str(folder), working_dir=True)


def _checkpoints(
    experiment: Experiment, volume: Path | None, fresh: bool
) -> _CheckpointFolders | None:
    algorithm = experiment.spec.algorithm
    if algorithm is None or algorithm.algorithm_name != "pbt":
        return None
    if volume is None:
        raise ControllerError(f"experiment {experiment.name!r}: pbt needs a volume folder")
    settings = {s.name: s.value for s in algorithm.algorithm_settings or []}
    if fresh and volume.exists():
        shutil.rmtree(volume)  # a fresh run: no checkpoints of an earlier one
    volume.mkdir(parents=True, exist_ok=True)
    return _CheckpointFolders(volume, settings.get("suggestion_trial_dir", "/"))


def _unrun(trial: TrialRecord) -> TrialRecord:
    """A trial that was to run again, when the experiment turns out complete already (what
    it needed had happened just before the controller died)."""
    return trial.with_state(
        TrialState.KILLED, "TrialKilled", "not run again: the experiment had completed"
    )


def _early_stopping(experiment: Experiment) -> MedianStop | None:
    stopping = experiment.spec.early_stopping
    if stopping is None:
        return None
    if stopping.algorithm_name != "medianstop":
        raise ControllerError(
            f"hpo-controller does not run the {stopping.algorithm_name!r} early stopping; "
            "it runs: medianstop"
        )
    return MedianStop.from_spec(stopping)


def _breaking(
    stopper: MedianStop,
    experiment: Experiment,
    record: ExperimentRecord,
    collector: Collector,
    launch: _Launcher,
    stopping: set[str],
) -> list[str]:
    """Running trials whose reports so far break the early-stopping rule."""
    objective = experiment.spec.objective
    assert objective is not None
    name = objective.objective_metric_name
    succeeded = [
        summary.values
        for trial in record.trials
        if trial.state is TrialState.SUCCEEDED and (summary := trial.metric(name)) is not None
    ]
    threshold = stopper.threshold(succeeded)
    if threshold is None:
        return []
    breaking = []
    for trial in record.trials:
        if trial.state is not TrialState.RUNNING or trial.name in stopping:
            continue
        values, _ = collector.collect(launch.logs[trial.name], launch.metrics[trial.name])
        if stopper.should_stop(values.get(name, []), threshold, objective.type == "maximize"):
            breaking.append(trial.name)
    return breaking


def _finish(
    trial: TrialRecord,
    exited: TrialExit,
    was_stopped: bool,
    metrics: tuple[MetricSummary, ...],
    wanted: list[str],
    completion_time: str,
    *,
    early_stopped: bool = False,
    note: str = "",
) -> TrialRecord:
    """The trial's record once it has ended: its metrics, exit code, end time and final
    state (a collector's note as the message where the state gives none)."""
    state, reason, message = _ending(exited, was_stopped, metrics, wanted, early_stopped)
    return replace(
        trial,
        state=state,
        reason=reason,
        message=message or note,
        metrics=metrics,
        exit_code=exited.exit_code,
        completion_time=completion_time,
    )


def _ending(
    exited: TrialExit,
    was_stopped: bool,
    metrics: tuple[MetricSummary, ...],
    wanted: list[str],
    early_stopped: bool,
) -> tuple[TrialState, str, str]:
    """How a trial ended: its state, reason and message."""
    exit_code = exited.exit_code
    if early_stopped:
        return TrialState.EARLY_STOPPED, "TrialEarlyStopped", "Trial is early stopped"
    if exited.deadline_exceeded:
        return (
            TrialState.FAILED,
            "TrialFailed. Job reason: DeadlineExceeded",
            "the trial ran past its activeDeadlineSeconds and was stopped",
        )
    if was_stopped:
        return TrialState.KILLED, "TrialKilled", "stopped because the experiment completed"
    if exit_code != 0:
        return TrialState.FAILED, "TrialFailed", f"exit code {exit_code}"
    if wanted and not any(summary.name == wanted[0] for summary in metrics):
        return (
            TrialState.METRICS_UNAVAILABLE,
            "MetricsUnavailable",
            f"the trial exited 0 without reporting {wanted[0]!r}",
        )
    return TrialState.SUCCEEDED, "TrialSucceeded", ""


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _describe(trial: TrialRecord) -> str:
    metrics = " ".join(f"{m.name}={m.latest:g}" for m in trial.metrics)
    return f"{trial.name} {trial.state.value}" + (f" ({metrics})" if metrics else "")


def summary_line(experiment: Experiment, record: ExperimentRecord) -> str:
    """One line for a commit subject: how the experiment ended and its best result."""
    done = record.completion.reason if record.completion else "Running"
    best = best_trial(experiment.spec, record.trials)
    if best is None or experiment.spec.objective is None:
        return f"{experiment.name}: {done}, no successful trial"
    value = objective_value(experiment.spec, best)
    shown = ", ".join(f"{k}={v}" for k, v in best.assignments)
    metric = experiment.spec.objective.objective_metric_name
    return f"{experiment.name}: {done}, best {metric}={value:g} ({shown})"
