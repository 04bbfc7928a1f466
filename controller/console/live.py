"""The live display of a run on a terminal: one bar per experiment with its best value so
far (rich). Imported only when a terminal shows it: rich takes a while to load."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from controller.core.reconcile import best_trial, objective_shown, objective_value
from controller.core.records import ExperimentRecord
from generator.files.escaping import one_line
from generator.katib.models import Experiment


class LiveDisplay:
    """A progress bar per experiment on a terminal."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}", markup=False),
            console=Console(stderr=True),
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> LiveDisplay:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, experiment: Experiment, record: ExperimentRecord) -> None:
        total = experiment.spec.max_trial_count or max(len(record.trials), 1)
        finished = sum(1 for t in record.trials if not t.state.is_active)
        best = best_trial(experiment.spec, record.trials)
        objective = experiment.spec.objective
        shown = ""
        if best is not None and objective is not None:
            value = objective_value(experiment.spec, best)
            text = f"{value:.4g}" if value is not None and value == value else ""
            text = text or objective_shown(experiment.spec, best)[:40]
            shown = f"best {objective.objective_metric_name}={text}"
        if record.completion is not None:
            shown += f"  {record.completion.reason}"
        shown = one_line(shown)  # a metric's name is the spec's: shown as text, one line
        task = self._tasks.get(experiment.name)
        if task is None:
            task = self._progress.add_task(experiment.name, total=total, best=shown)
            self._tasks[experiment.name] = task
        self._progress.update(task, completed=finished, total=total, best=shown)
