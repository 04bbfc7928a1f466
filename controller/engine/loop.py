"""The engine: runs one experiment to completion by applying the decision step's actions
(`controller.core.step`) through the ports (`controller.ports`). It waits for the next
event (a trial's exit, an answer from the algorithm, the early-stopping tick), hands it
to the step, and does what the step says: start and stop trials, tell and ask the
algorithm, write the status. Everything it decides is the step's; everything it touches
is a port, the algorithm, or the metrics collector."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from controller.algorithms.base import SuggesterFactory, TrialSuggester, as_trial_suggester
from controller.algorithms.registry import RESULT_INDEPENDENT, make_suggester, trial_workspace
from controller.console.progress import events_wanted, flush_log
from controller.core import step
from controller.core.ending import describe
from controller.core.events import event, metric_fields, trial_fields
from controller.core.reconcile import assignments_shown, best_trial, objective_shown
from controller.core.records import ExperimentRecord, TrialExit, TrialRecord, tally
from controller.core.results import StatusWriter
from controller.core.resume import resumed
from controller.core.status import Provenance
from controller.core.trialspec import Command, ConfigMaps, Demand, trial_demand
from controller.earlystopping.medianstop import MedianStop
from controller.engine.background import BackgroundSuggester, InlineSuggester, Pending
from controller.engine.journal import TrialJournal
from controller.engine.journal import read as read_journal
from controller.engine.launcher import Launcher, Prepared
from controller.engine.recovery import recovered
from controller.errors import ControllerError
from controller.metrics.collectors import collector_for
from controller.ports import Clock, StatusSink, TrialExecutor
from generator.files.escaping import one_line
from generator.katib.models import Experiment

log = logging.getLogger("hpo-controller")
EARLY_STOPPING_TICK = 0.25  # seconds between checks of running trials' reports
SAVE_INTERVAL = 1.0  # seconds between rewrites of a running experiment's status


def utc_now() -> str:
    """The time as Katib's status has it: 2024-05-01T12:00:00.123456Z."""
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


class HandOver(Protocol):
    """An executor that can start the next trial the moment a running trial exits, on
    the thread that sees the exit, before the engine hears of it (the local executor).
    Optional: an engine without one starts every trial itself."""

    def standby(self, trial: str, command: Command) -> Path | None:
        """Hold the trial to start in the place of the next trial to exit; the file its
        output will go to, or None when it is not held."""
        ...

    def withdraw(self) -> bool:
        """Take back the held trial: whether it was still held (it will not start)."""
        ...

    def successor_of(self, trial: str) -> str | None:
        """The held trial that `trial`'s exit started, asked once per exit."""
        ...


@runtime_checkable
class Settling(Protocol):
    """An executor that tells a trial's exit before its output is all in its files (a
    workload whose end is seen in the cluster while its log is still being read), so that
    the trial's successor starts at once. Optional: the run waits for `settle` before it
    reads the trial's result."""

    def settle(self, trial: str, interruptible: bool = False) -> bool:
        """Return once the exited trial's output is all in its files (True);
        `interruptible`: return False as soon as another exit waits to be heard."""
        ...


@dataclass
class Options:
    """How a run is set up beyond its experiment and ports (see `run_experiment`)."""

    config_maps: ConfigMaps = field(default_factory=dict)
    previous: ExperimentRecord | None = None
    checkpoint: Callable[[ExperimentRecord], None] | None = None
    on_change: Callable[[ExperimentRecord], None] | None = None
    clock: Clock = utc_now
    suggester_factory: SuggesterFactory = make_suggester
    volume: Path | None = None
    journal: TrialJournal | None = None
    hand_over: HandOver | None = None
    provenance: Provenance | None = None  # recorded in the status


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
    hand_over: HandOver | None = None,
) -> ExperimentRecord:
    """Run `experiment` to completion. The status is written as the run goes (at most every
    SAVE_INTERVAL seconds); `checkpoint` sees the record after each write, `on_change` after
    each change. With `previous` (an unfinished run of the same spec, read back from its
    status), the run continues: finished trials count, trials that were running are run
    again, and the algorithm is rebuilt from the finished ones. Suggestions are computed on
    their own thread while the engine goes on recording and stopping trials. `volume` is
    the experiment's persistent folder (Katib's FromVolume claim): pbt keeps each trial's
    checkpoint folder there. `journal` (whose path the executor's exits are written to
    first) is read back on resume for the trials that ended after the status was last
    written, and emptied once the status holds them. `hand_over`: the executor's, where
    it can start the next trial at an exit itself."""
    options = Options(
        config_maps or {},
        previous,
        checkpoint,
        on_change,
        clock,
        suggester_factory,
        volume,
        journal,
        hand_over,
    )
    return Engine(experiment, environment, executor, sink, options).run()


class Engine:
    """One run of one experiment: the step's state, and the adapters that act on it."""

    def __init__(
        self,
        experiment: Experiment,
        environment: str,
        executor: TrialExecutor,
        sink: StatusSink,
        options: Options,
    ):
        spec = experiment.spec
        if spec.algorithm is None or spec.objective is None:
            raise ControllerError(f"experiment {experiment.name!r} has no algorithm or objective")
        self.experiment, self.executor, self.sink, self.options = (
            experiment,
            executor,
            sink,
            options,
        )
        self.clock = options.clock
        self.settle = executor.settle if isinstance(executor, Settling) else None
        self.journal = options.journal
        self.hand_over = options.hand_over
        factory, goal = options.suggester_factory, spec.objective.type
        suggester = as_trial_suggester(
            factory(spec.algorithm, spec.parameters or [], goal, nas=spec.nas_config)
            if spec.nas_config is not None
            else factory(spec.algorithm, spec.parameters or [], goal)
        )
        self.collector = collector_for(spec.metrics_collector_spec, step.wanted_metrics(spec))
        record = self._record(suggester)
        independent = spec.algorithm.algorithm_name in RESULT_INDEPENDENT
        self.algorithm: BackgroundSuggester | InlineSuggester = (
            InlineSuggester(suggester) if independent else BackgroundSuggester(suggester)
        )
        capacity = _capacity(experiment, executor, options.config_maps)
        # Algorithms that do not learn from results get their next suggestions computed
        # ahead, so a free slot is filled at once instead of after a round trip.
        lookahead = min(spec.parallel_trial_count or 1, capacity) if independent else 0
        self.state = step.RunState(spec, record, capacity, lookahead, _early_stopping(experiment))
        workspace = trial_workspace(
            spec.algorithm, experiment.name, options.volume, fresh=options.previous is None
        )
        self.launch = Launcher(
            experiment,
            record,
            executor,
            sink,
            options.config_maps,
            self.collector,
            self.clock,
            workspace=workspace,
            journal=self.journal,
        )
        self.status_text = StatusWriter(experiment, environment, options.provenance)
        self.pending: Pending | None = None
        self.offered: tuple[Prepared, Path] | None = None
        self.saved_at = float("-inf")
        self.dirty = False
        self.outcome: step.Complete | step.Halt | None = None
        self.stop_asked = threading.Event()
        self.stop_heard = False

    def _record(self, suggester: TrialSuggester) -> ExperimentRecord:
        """The record the run starts from: a fresh one, or the previous run's with its
        journal applied, its interrupted trials queued again and the algorithm rebuilt."""
        experiment, previous = self.experiment, self.options.previous
        if previous is None:
            if self.journal is not None:
                self.journal.reset()  # a fresh run: nothing of an earlier one applies
            return ExperimentRecord(
                experiment.name, experiment.metadata.namespace, start_time=self.clock()
            )
        if self.journal is not None:
            entries = read_journal(self.journal.path)
            wanted = step.wanted_metrics(experiment.spec)
            previous = recovered(previous, entries, self.collector, wanted, self.sink.root)
        resume = resumed(previous, experiment.spec)
        for name, suggestion in resume.rerun:
            suggester.trial_rerun(name, suggestion)
        suggester.rebuild(resume.history)
        log.info(
            "%s: resuming with %d finished trials, %d to run again",
            experiment.name,
            len(resume.history),
            len(resume.rerun),
            extra=event(
                "experiment_resumed",
                experiment=experiment.name,
                finished=len(resume.history),
                rerun=[name for name, _ in resume.rerun],
            ),
        )
        return resume.record

    def run(self) -> ExperimentRecord:
        """Run to the end: completion, or a halt."""
        try:
            self.save(force=True)
            if self.journal is not None:
                self.journal.reset()  # what it told is in the status now
            self.apply(step.react(self.state, step.Began()))
            while self.outcome is None:
                self.turn()
            if isinstance(self.outcome, step.Complete):
                self.state.record.completion_time = self.clock()
            self.save(force=True)
            if isinstance(self.outcome, step.Halt) and self.journal is not None:
                self.journal.reset()  # the halted trials run again; their stops do not count
            self.log_end()
            return self.state.record
        finally:
            if self.offered is not None and self.hand_over is not None:
                self.hand_over.withdraw()  # one that started anyway stops with the executor
            flush_log(log)
            self.algorithm.close()

    def log_end(self) -> None:
        """The run's end as an event (a debug line in text: the command says it anyway)."""
        record = self.state.record
        done = record.completion
        best = best_trial(self.experiment.spec, record.trials)
        objective = self.experiment.spec.objective
        log.log(
            logging.INFO if events_wanted(log) else logging.DEBUG,
            "%s",
            summary_line(self.experiment, record),
            extra=event(
                "experiment_ended" if done is not None else "experiment_halted",
                experiment=self.experiment.name,
                state=done.condition if done is not None else "Running",
                reason=done.reason if done is not None else None,
                stateMessage=(done.message or None) if done is not None else None,
                trials=len(record.trials),
                states=tally(record.trials),
                best=None
                if best is None or objective is None
                else {
                    "trial": best.name,
                    "objective": objective.objective_metric_name,
                    "metrics": metric_fields(best.metrics),
                    "parameters": dict(best.assignments),
                },
                startTime=record.start_time,
                completionTime=record.completion_time,
            ),
        )

    def request_stop(self) -> None:
        """Stop the run: every trial is stopped and `run` returns the record unfinished, to
        resume later. Safe from any thread."""
        self.stop_asked.set()
        self.executor.wake()

    def turn(self) -> None:
        """Hear a stop asked and the algorithm's answer if they came, then wait for the
        next event."""
        if self.stop_asked.is_set() and not self.stop_heard:
            self.stop_heard = True
            self.apply(step.react(self.state, step.StopAsked()))
        if self.outcome is None and self.pending is not None and self.pending.done():
            self.receive()
        if self.outcome is None:
            self.apply(step.idle(self.state, offers=self.hand_over is not None))
        if self.outcome is None:
            self.wait()

    def wait(self) -> None:
        """Wait for an exit, the algorithm, the early-stopping tick or the next write."""
        waits = [EARLY_STOPPING_TICK] if self.state.stopper else []
        if self.dirty:
            waits.append(max(self.saved_at + SAVE_INTERVAL - time.monotonic(), 0.0))
        exited = self.executor.next_exit(timeout=min(waits) if waits else None)
        if exited is not None:
            self.exited(exited)
            return
        if self.dirty and time.monotonic() - self.saved_at >= SAVE_INTERVAL:
            self.save()
        names = step.wanted_reports(self.state)
        if names:
            metric = self.state.wanted[0]
            values = {name: self.launch.reports(name).get(metric, []) for name in names}
            self.apply(step.react(self.state, step.Reports(values)))

    def exited(self, first: TrialExit) -> None:
        """Trials ended: each slot filled where the step says, then each result read.
        Where the executor tells exits before their output is all in (`Settling`), an
        exit told while the run waits for another trial's output is heard at once, so
        that no trial's successor waits for another trial's output."""
        unread = [self.hear(first)]
        while unread:
            if self.settle is not None:
                while (more := self.executor.next_exit(timeout=0)) is not None:
                    unread.append(self.hear(more))
                if not self.settle(unread[0][0].trial, interruptible=True):
                    continue  # another exit came: its slot first
            exited, ended_at = unread.pop(0)
            logs, metrics = self.launch.logs[exited.trial], self.launch.metrics[exited.trial]
            summaries, note = self.collector.summaries(logs, metrics)
            result = step.TrialResult(exited, summaries, ended_at, note)
            self.apply(step.react(self.state, result))

    def hear(self, exited: TrialExit) -> tuple[TrialExit, str]:
        """A trial's exit, its result not read yet: its slot filled where the step says;
        the exit and when it ended."""
        ended_at = exited.at or self.clock()
        successor = None
        name = None if self.hand_over is None else self.hand_over.successor_of(exited.trial)
        if name is not None:  # its slot filled from the hand-over already
            assert self.offered is not None and self.offered[0].trial.name == name
            prepared, log_path = self.offered
            successor = self.launch.running(prepared, log_path, ended_at)
            self.offered = None
        self.apply(step.react(self.state, step.TrialExited(exited.trial, successor)))
        return exited, ended_at

    def receive(self) -> None:
        """Hand the algorithm's answer to the step."""
        assert self.pending is not None
        suggestions = self.pending.result()
        self.pending = None
        ready = step.SuggestionsReady(tuple(suggestions), self.algorithm.exhausted)
        self.apply(step.react(self.state, ready))

    def apply(self, actions: list[step.Action]) -> None:
        """Do what the step says, in order; an answer that comes at once (a withdrawal,
        suggestions computed inline) goes back to the step before the next action."""
        for action in actions:
            answer = self.act(action)
            if answer is not None:
                self.apply(step.react(self.state, answer))

    def act(self, action: step.Action) -> step.Event | None:
        """One action through the ports; the event it answers with, if any."""
        if isinstance(action, step.Start):
            running = self.launch.start(action.trial, action.announce)
            step.started(self.state, running)
        elif isinstance(action, step.Stop):
            self.stop(action)
        elif isinstance(action, step.Tell):
            for name, suggestion, value in action.results:
                self.algorithm.observe(name, suggestion, value)
        elif isinstance(action, step.Request):
            return self.request(action.count)
        elif isinstance(action, step.Save):
            self.save()
        elif isinstance(action, step.Ended):
            if self.journal is not None:
                self.journal.ended(action.trial)
            fields = trial_fields(self.experiment.name, action.trial)
            log.info("%s", self.ended_line(action.trial), extra=event("trial_ended", **fields))
        elif isinstance(action, step.Announce):
            self.launch.announce(action.trial)
        elif isinstance(action, step.Offer):
            return self.offer(action.trial)
        elif isinstance(action, step.Withdraw):
            return self.withdraw()
        elif isinstance(action, step.Stall):
            raise ControllerError(action.message)
        else:  # Complete or Halt
            self.outcome = action
        return None

    def ended_line(self, trial: TrialRecord) -> str:
        """The log line of a finished trial; for one that failed, why: its message (the
        exit code, a deadline, a missing metric) and the last lines of its output."""
        line = describe(trial)
        if not trial.state.is_failed:
            return line
        tail = " | ".join(one_line(text) for text in self.launch.last_lines(trial.name))
        return f"{line}: {trial.message}" + (f"; its output ends: {tail}" if tail else "")

    def stop(self, action: step.Stop) -> None:
        if action.early:
            log.info(
                "%s early stopped: %s",
                action.trial,
                action.why,
                extra=event(
                    "trial_early_stopped",
                    experiment=self.experiment.name,
                    trial=action.trial,
                    state="EarlyStopped",
                    reason="TrialEarlyStopped",
                    stateMessage=action.why,
                ),
            )
        if self.journal is not None:
            self.journal.stopping(action.trial, early=action.early, why=action.why)
        self.executor.stop(action.trial)

    def request(self, count: int) -> step.Event | None:
        """Ask the algorithm; its answer at once where it computes inline."""
        pending = self.algorithm.request(count)
        if pending.done():
            return step.SuggestionsReady(tuple(pending.result()), self.algorithm.exhausted)
        self.pending = pending
        pending.add_done_callback(lambda _: self.executor.wake())
        return None

    def offer(self, trial: TrialRecord) -> step.Event | None:
        """Hand the trial to the executor for the next exit's slot."""
        assert self.hand_over is not None
        prepared = self.launch.prepare(trial)
        log_path = self.hand_over.standby(trial.name, prepared.command)
        if log_path is None:
            return step.OfferRefused()
        self.offered = (prepared, log_path)
        return None

    def withdraw(self) -> step.Event:
        assert self.hand_over is not None
        held = self.hand_over.withdraw()
        if held:
            self.offered = None
        return step.Withdrawn(held)

    def save(self, force: bool = False) -> None:
        """Rewrite the status at most every SAVE_INTERVAL seconds (always when forced). A
        trial that ends between writes is simply run again if the controller dies."""
        record = self.state.record
        if self.options.on_change is not None:
            self.options.on_change(record)
        now = time.monotonic()
        if not force and now - self.saved_at < SAVE_INTERVAL:
            self.dirty = True
            return
        self.sink.write(self.experiment.name, self.status_text(record))
        self.saved_at, self.dirty = now, False
        if self.options.checkpoint is not None:
            self.options.checkpoint(record)


def _capacity(experiment: Experiment, executor: TrialExecutor, config_maps: ConfigMaps) -> int:
    """How many trials run at once: parallelTrialCount, or fewer where the executor's
    machine cannot hold that many of this experiment's trials (said in the log). An
    executor of workloads leaves capacity to its cluster's scheduler."""
    parallel = experiment.spec.parallel_trial_count or 1
    if executor.workloads:
        return max(min(executor.capacity(Demand(0.0, 0)), parallel), 1)
    demand = trial_demand(experiment, config_maps)
    capacity = executor.capacity(demand)
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


def summary_line(experiment: Experiment, record: ExperimentRecord) -> str:
    """One line for a commit subject: how the experiment ended and its best result."""
    done = record.completion.reason if record.completion else "Running"
    best = best_trial(experiment.spec, record.trials)
    if best is None or experiment.spec.objective is None:
        return f"{experiment.name}: {done}, no successful trial"
    value = objective_shown(experiment.spec, best)
    shown = assignments_shown(best.assignments)
    metric = experiment.spec.objective.objective_metric_name
    return f"{experiment.name}: {done}, best {metric}={value} ({shown})"
