"""Recovery from the trial journal on resume: what the journal knows and the status did
not (trials started after the status was last written, trials that ended, their metrics
read from their logs where the run had not read them yet)."""

from __future__ import annotations

import logging
from pathlib import Path

from controller.core.ending import finish
from controller.core.records import ExperimentRecord, TrialExit
from controller.core.status import trial_from_document
from controller.engine.journal import JournalEntries
from controller.errors import ControllerError
from controller.metrics.collectors import Collector

log = logging.getLogger("hpo-controller")


def recovered(
    previous: ExperimentRecord,
    entries: JournalEntries,
    collector: Collector,
    wanted: list[str],
    root: Path,
) -> ExperimentRecord:
    """The previous run with its journal applied. A journal entry that does not describe a
    trial is a ControllerError."""
    try:
        return _apply(previous, entries, collector, wanted, root)
    except (KeyError, TypeError, ValueError) as err:
        raise ControllerError(
            f"the trial journal of {previous.name!r} holds an entry that is not a trial "
            f"({type(err).__name__}: {err}); remove the journal under .hpo/journal/ to "
            "resume from the status file alone"
        ) from err


def _apply(
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
            summaries, note = collector.summaries(log_path, Path(metrics) if metrics else None)
            previous.trials[index] = finish(
                trial,
                TrialExit(name, exited.code, exited.deadline_exceeded),
                name in entries.stopping,
                summaries,
                wanted,
                exited.at,
                early_stopped=entries.stopping.get(name, False),
                note=note,
                why=entries.why.get(name, ""),
            )
        else:
            continue
        recovered += 1
    if recovered:
        log.info("%s: %d trials that ended after the last status write", previous.name, recovered)
    return previous
