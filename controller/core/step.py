"""The decision step of an experiment run: given the run's state and an event (the run
began, suggestions are ready, a trial exited, its result was read, running trials
reported, a stop was asked), what to do, as a list of actions (start these trials, stop
those, tell the algorithm, ask it for more, write the status, complete with this reason).
No threads, no I/O, no clock: the engine (`controller.engine`) waits for the events and
applies the actions through the ports; the table tests drive this module alone.

`react` updates the state it is given (the records, the counts, the suggestions held)
and returns the actions; `started` records a trial the engine has started. The rules:

- Katib's completion order (`reconcile`): the goal, then maxFailedTrialCount, then
  maxTrialCount; an algorithm with nothing more to suggest completes the run once its
  last trials finish. Trials still running at completion are stopped.
- Budget arithmetic: the algorithm is asked for the trials the free slots want plus the
  lookahead of algorithms that do not learn from results, less the suggestions held, and
  never for more than maxTrialCount leaves room for.
- Replacement order: a trial that exits is replaced before its result is read where no
  result of it (nor of the other exited trials whose results are unread) can end the run
  (`replaceable_unread`); otherwise its result is read first. Several trials may have
  exited unread at once (an engine may hear of every exit that came before it reads their
  results). The algorithm hears of finished trials after their slots are filled again.
- A run may hand the next trial to an executor that can start it the moment a running
  trial exits (`Offer`); it is withdrawn before the loop fills a slot itself or completes.
- Early stopping: on `Reports`, running trials whose reports break the rule are stopped
  as EarlyStopped.
- A stop asked (`StopAsked`) stops every trial and halts the run unfinished: the trials it
  stopped stay running in the records, to run again when the run resumes (one that exits
  0 of itself meanwhile is finished as usual)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from controller.core.ending import finish, unrun
from controller.core.reconcile import (
    Tally,
    free_slots,
    objective_value,
    reconcile,
    replaceable_unread,
)
from controller.core.records import (
    Completion,
    ExperimentRecord,
    MetricSummary,
    Suggestion,
    TrialExit,
    TrialRecord,
    TrialState,
)
from generator.katib.models import ExperimentSpec


@dataclass(frozen=True)
class Breach:
    """Why a running trial is stopped: at `step` its best value so far was worse than
    `median`, the median of `trials` succeeded trials' running averages at that step."""

    step: int
    best: float
    median: float
    trials: int

    def describe(self, metric: str) -> str:
        return (
            f"stopped at step {self.step}: its best {metric} so far, {self.best:.6g}, was "
            f"worse than {self.median:.6g}, the median of the {self.trials} succeeded "
            f"trials' running averages at that step"
        )


class EarlyStoppingRule(Protocol):
    """An early-stopping rule as the step applies it (`controller.earlystopping`)."""

    def applies(self, succeeded: Sequence[Sequence[float]]) -> bool:
        """Whether the succeeded trials' reports are enough for the rule to apply."""
        ...

    def breach(
        self, series: Sequence[float], succeeded: Sequence[Sequence[float]], maximize: bool
    ) -> Breach | None:
        """Why a running trial with these reports is to stop now, or None."""
        ...


# Events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Began:
    """The run starts, or resumes: trials pending in the records run (again)."""


@dataclass(frozen=True)
class SuggestionsReady:
    """The algorithm answered a `Request`: these suggestions; `exhausted`: no more ever."""

    suggestions: tuple[Suggestion, ...]
    exhausted: bool


@dataclass(frozen=True)
class TrialExited:
    """A trial ended; its result is not read yet. `successor`: the running record of the
    trial the executor started in its slot from an `Offer`."""

    trial: str
    successor: TrialRecord | None = None


@dataclass(frozen=True)
class TrialResult:
    """What an exited trial left: its exit, its metrics (with the collector's note) and
    when it ended."""

    exit: TrialExit
    metrics: tuple[MetricSummary, ...]
    at: str
    note: str = ""


@dataclass(frozen=True)
class Reports:
    """What running trials have reported of the objective metric so far (`wanted_reports`
    says whose)."""

    values: Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class Withdrawn:
    """The answer to `Withdraw`: whether the offered trial was still held (else the
    executor has started it, and the exit that started it names it)."""

    held: bool


@dataclass(frozen=True)
class OfferRefused:
    """The executor did not take the `Offer`: the suggestion is the loop's again."""


@dataclass(frozen=True)
class StopAsked:
    """Stop the run now: every trial stopped, the run left unfinished (to resume)."""


Event = (
    Began
    | SuggestionsReady
    | TrialExited
    | TrialResult
    | Reports
    | Withdrawn
    | OfferRefused
    | StopAsked
)

# Actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Start this trial (pending in the records); `announce`: say so in the log now (a
    replacement started before its predecessor's result is announced after it)."""

    trial: TrialRecord
    announce: bool = True


@dataclass(frozen=True)
class Stop:
    """Stop this running trial; `early`: by the early-stopping rule."""

    trial: str
    early: bool = False
    why: str = ""  # for an early stop: the rule's reason


@dataclass(frozen=True)
class Tell:
    """Tell the algorithm of finished trials: name, suggestion, objective (None: unscored)."""

    results: tuple[tuple[str, Suggestion, float | None], ...]


@dataclass(frozen=True)
class Request:
    """Ask the algorithm for this many suggestions; answered by `SuggestionsReady`."""

    count: int


@dataclass(frozen=True)
class Save:
    """The status changed: write it (the engine paces the writes)."""


@dataclass(frozen=True)
class Ended:
    """This trial has finished: its final record."""

    trial: TrialRecord


@dataclass(frozen=True)
class Announce:
    """Say in the log that this trial started."""

    trial: TrialRecord


@dataclass(frozen=True)
class Offer:
    """Hand this trial (not in the records yet) to the executor, to start the moment a
    running trial exits; answered by `OfferRefused`, or by the exit that starts it."""

    trial: TrialRecord


@dataclass(frozen=True)
class Withdraw:
    """Take back the offered trial; answered by `Withdrawn`."""


@dataclass(frozen=True)
class Complete:
    """The run is over: every trial has ended; `completion` says how."""

    completion: Completion


@dataclass(frozen=True)
class Halt:
    """The run stops unfinished (a stop was asked): every trial has ended."""


@dataclass(frozen=True)
class Stall:
    """The algorithm suggests nothing while no trial runs: the run cannot go on."""

    message: str


Action = (
    Start
    | Stop
    | Tell
    | Request
    | Save
    | Ended
    | Announce
    | Offer
    | Withdraw
    | Complete
    | Halt
    | Stall
)

# State -----------------------------------------------------------------------------------


@dataclass
class RunState:
    """What the step knows of a run. `capacity`: trials at once (parallelTrialCount or
    what the executor holds, the fewer); `lookahead`: suggestions to hold ready beyond the
    free slots (for algorithms that do not learn from results)."""

    spec: ExperimentSpec
    record: ExperimentRecord
    capacity: int
    lookahead: int = 0
    stopper: EarlyStoppingRule | None = None
    tally: Tally = field(init=False)
    position: dict[str, int] = field(init=False)
    reruns: list[int] = field(init=False)
    ready: list[Suggestion] = field(default_factory=list)
    requested: bool = False  # a Request is unanswered
    exhausted: bool = False  # the algorithm has nothing more, ever
    starved: bool = False  # it answered nothing: ask again once a result comes
    told: int = 0  # results told so far
    told_at_request: int = 0  # and when the unanswered Request was made
    unheard: list[TrialRecord] = field(default_factory=list)  # finished, not told yet
    stopping: set[str] = field(default_factory=set)
    early: dict[str, str] = field(default_factory=dict)  # stopped early -> why
    offered: TrialRecord | None = None  # handed to the executor by an Offer
    offer_taken: bool = False  # a Withdraw found it started
    unread: set[str] = field(default_factory=set)  # exited, their results not read yet
    # exited trial -> the trial started in its slot, announced once its result is read
    replacements: dict[str, TrialRecord] = field(default_factory=dict)
    halting: bool = False
    wanted: list[str] = field(init=False)  # the metrics the trials report, objective first

    def __post_init__(self) -> None:
        self.wanted = wanted_metrics(self.spec)
        trials = self.record.trials
        self.tally = Tally.of(self.spec, trials)
        self.position = {trial.name: index for index, trial in enumerate(trials)}
        self.reruns = [i for i, t in enumerate(trials) if t.state is TrialState.PENDING]


def wanted_metrics(spec: ExperimentSpec) -> list[str]:
    """The metrics an experiment's trials report: the objective's, then the others."""
    objective = spec.objective
    if objective is None:
        return []
    return [objective.objective_metric_name, *(objective.additional_metric_names or [])]


def react(state: RunState, event: Event) -> list[Action]:
    """The actions `event` calls for, in the order the engine is to apply them."""
    if isinstance(event, TrialResult):
        return _result(state, event)
    if isinstance(event, TrialExited):
        return _exited(state, event)
    if isinstance(event, SuggestionsReady):
        return _suggested(state, event)
    if isinstance(event, Reports):
        return _reports(state, event)
    if isinstance(event, Withdrawn):
        _take_back(state, event.held)
        return _plan(state)
    if isinstance(event, OfferRefused):
        _take_back(state, True)
        return []
    if isinstance(event, StopAsked):
        state.halting = True
    return _plan(state)


def started(state: RunState, trial: TrialRecord) -> None:
    """The engine started `trial` (a `Start`'s trial, now running)."""
    _put(state, state.position[trial.name], trial)


def idle(state: RunState, offers: bool) -> list[Action]:
    """What to do before waiting for the next event: fail a run that cannot go on, and
    (where the executor takes offers) offer the next trial for the next exit's slot."""
    if not state.tally.active and not state.requested:
        if state.exhausted or state.record.completion is not None:
            return _plan(state)  # completes it
        return [
            Stall(
                f"experiment {state.record.name!r}: the algorithm suggests nothing while "
                "no trial runs"
            )
        ]
    if offers and _may_offer(state):
        trial = _next_trial(state, state.ready.pop(0))
        state.offered = trial
        return [Offer(trial)]
    return []


def wanted_reports(state: RunState) -> list[str]:
    """The running trials whose reports the early-stopping rule is to see now (none while
    it does not apply yet)."""
    if _succeeded_series(state) is None:
        return []
    return [
        trial.name
        for trial in state.record.trials
        if trial.state is TrialState.RUNNING and trial.name not in state.stopping
    ]


# The rules -------------------------------------------------------------------------------


def _plan(state: RunState) -> list[Action]:
    """A turn of the run: complete, stop, start, tell and ask as the records say."""
    spec, tally, record = state.spec, state.tally, state.record
    ended = state.exhausted and not state.ready and state.offered is None
    decision = reconcile(spec, tally, ended, state.capacity)
    if decision.completion is not None and record.completion is None:
        record.completion = decision.completion
    over = record.completion is not None or state.halting
    if state.offered is not None and not state.offer_taken and (over or decision.start):
        return [Withdraw()]  # the turn goes on once the answer comes
    actions = _reruns(state)  # (not run again where the run is over: nothing to stop)
    stops = tuple(tally.active) if state.halting else decision.stop
    actions += _stops(state, [name for name in stops if name in tally.active])
    if not over:
        return actions + _fill(state, decision.start)
    if tally.active:
        return [*actions, _tell(state), Save()] if state.unheard else actions
    if state.unheard:
        actions.append(_tell(state))
    if record.completion is not None:
        return [*actions, Complete(record.completion)]
    return [*actions, Halt()]


def _stops(state: RunState, names: Sequence[str]) -> list[Action]:
    stops: list[Action] = []
    for name in names:
        if name not in state.stopping:
            state.stopping.add(name)
            stops.append(Stop(name))
    return stops


def _reruns(state: RunState) -> list[Action]:
    """Trials the controller was running when it stopped: started again, or marked not
    run where the run turns out complete."""
    actions: list[Action] = []
    for index in state.reruns:
        trial = state.record.trials[index]
        if state.record.completion is None and not state.halting:
            actions.append(Start(trial))
        else:
            _put(state, index, unrun(trial))
    state.reruns = []
    return actions


def _fill(state: RunState, free: int) -> list[Action]:
    """Start trials in the free slots, tell the algorithm what finished, and ask it for
    what the slots and the lookahead want."""
    # (none while an offered trial has started unheard: its exit comes first)
    starting = state.ready[:free] if state.offered is None else []
    del state.ready[: len(starting)]
    actions: list[Action] = [Start(_add(state, _next_trial(state, s))) for s in starting]
    if state.unheard:
        actions.append(_tell(state))
        state.starved = False  # a result came in: the algorithm may have more now
    if actions:
        actions.append(Save())
    held = len(state.ready) + (state.offered is not None)
    count = free - len(starting) + state.lookahead - held
    limit = state.spec.max_trial_count
    if limit is not None:  # never more than the budget holds
        count = min(count, limit - len(state.record.trials) - held)
    if not state.requested and not state.exhausted and not state.starved and count > 0:
        state.requested, state.told_at_request = True, state.told
        actions.append(Request(count))
    return actions


def _suggested(state: RunState, event: SuggestionsReady) -> list[Action]:
    state.ready.extend(event.suggestions)
    state.exhausted = event.exhausted
    # Nothing now, more later (hyperband waits for a rung's results): ask again once a
    # trial has finished, unless results were told after the request was made.
    state.starved = not event.suggestions and not event.exhausted
    state.starved &= state.told == state.told_at_request
    state.requested = False
    return _plan(state)


def _exited(state: RunState, event: TrialExited) -> list[Action]:
    """A trial ended: its slot filled before its result is read, where that is safe."""
    state.unread.add(event.trial)
    if event.successor is not None:  # the executor started the offered trial in its slot
        assert state.offered is not None and state.offered.name == event.successor.name
        state.offered, state.offer_taken = None, False
        state.replacements[event.trial] = _add(state, event.successor)
        return []
    if (
        state.ready
        and state.offered is None
        and state.record.completion is None
        and not state.halting
        and replaceable_unread(state.spec, state.tally, state.capacity, len(state.unread))
    ):
        replacement = _add(state, _next_trial(state, state.ready.pop(0)))
        state.replacements[event.trial] = replacement
        return [Start(replacement, announce=False)]
    return []


def _result(state: RunState, event: TrialResult) -> list[Action]:
    """An exited trial's result: its final record, then the next turn."""
    name = event.exit.trial
    state.unread.discard(name)
    halted = state.halting and name in state.stopping and name not in state.early
    if halted and event.exit.exit_code != 0:  # stopped by the halt: it runs again on resume
        state.tally.forget(name)
        return _plan(state)
    index = state.position[name]
    finished = finish(
        state.record.trials[index],
        event.exit,
        name in state.stopping and not halted,
        event.metrics,
        state.wanted,
        event.at,
        early_stopped=name in state.early,
        note=event.note,
        why=state.early.get(name, ""),
    )
    _put(state, index, finished)
    state.unheard.append(finished)
    actions: list[Action] = [Ended(finished)]
    replacement = state.replacements.pop(name, None)
    if replacement is not None:
        actions.append(Announce(replacement))
    return actions + _plan(state)


def _reports(state: RunState, event: Reports) -> list[Action]:
    succeeded = _succeeded_series(state)
    if succeeded is None or state.stopper is None:
        return []
    objective = state.spec.objective
    assert objective is not None
    maximize = objective.type == "maximize"
    stops: list[Action] = []
    for name, values in event.values.items():
        if name in state.stopping or state.record.completion is not None:
            continue
        breach = state.stopper.breach(values, succeeded, maximize)
        if breach is not None:
            why = breach.describe(objective.objective_metric_name)
            state.stopping.add(name)
            state.early[name] = why
            stops.append(Stop(name, early=True, why=why))
    return stops


def _succeeded_series(state: RunState) -> list[tuple[float, ...]] | None:
    """The objective's reports of every succeeded trial, where the early-stopping rule
    applies now; None where it does not."""
    objective = state.spec.objective
    if state.stopper is None or objective is None or state.record.completion is not None:
        return None
    if state.halting:
        return None
    name = objective.objective_metric_name
    succeeded = [
        summary.values
        for trial in state.record.trials
        if trial.state is TrialState.SUCCEEDED and (summary := trial.metric(name)) is not None
    ]
    return succeeded if state.stopper.applies(succeeded) else None


def _may_offer(state: RunState) -> bool:
    """Whether the next ready suggestion's trial may wait for a running trial's exit:
    only where no result of that trial can end the run, and no slot is free now."""
    return (
        state.offered is None
        and bool(state.ready)
        and state.record.completion is None
        and not state.halting
        and not free_slots(state.spec, state.tally, state.capacity)
        and replaceable_unread(state.spec, state.tally, state.capacity)
    )


def _take_back(state: RunState, held: bool) -> None:
    assert state.offered is not None
    if held:
        state.ready.insert(0, state.offered.suggestion)
        state.offered = None
    else:
        state.offer_taken = True


def _tell(state: RunState) -> Tell:
    results = tuple(
        (
            trial.name,
            trial.suggestion,
            objective_value(state.spec, trial) if trial.state.is_scored else None,
        )
        for trial in state.unheard
    )
    state.told += len(results)
    state.unheard.clear()
    return Tell(results)


def _next_trial(state: RunState, suggestion: Suggestion) -> TrialRecord:
    name = f"{state.record.name}-{len(state.record.trials) + 1:04d}"
    return TrialRecord(name, suggestion.assignments, labels=suggestion.labels)


def _add(state: RunState, trial: TrialRecord) -> TrialRecord:
    state.position[trial.name] = len(state.record.trials)
    state.record.trials.append(trial)
    state.tally.change(None, trial)
    return trial


def _put(state: RunState, index: int, trial: TrialRecord) -> None:
    state.tally.change(state.record.trials[index], trial)
    state.record.trials[index] = trial
