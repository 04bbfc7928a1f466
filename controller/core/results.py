"""The files of an experiment's results under `status/<env>/`: the machine-readable status
(YAML), the Markdown summary, and its three pictures. Pure: file name -> text."""

from __future__ import annotations

from controller.core.records import ExperimentRecord, TrialRecord
from controller.core.status import (
    Provenance,
    metric_fields,
    spec_digest,
    status_document,
    status_head,
    trial_document,
    trial_tail,
)
from controller.core.summary import summary_markdown
from generator.files import yamlio
from generator.katib.models import Experiment

STATUS_HEADER = "Written by `hpo-controller run`: the results of one experiment. Do not edit."


def status_file(
    experiment: Experiment,
    record: ExperimentRecord,
    environment: str,
    provenance: Provenance | None = None,
) -> dict[str, str]:
    """The machine-readable status alone: what a run rewrites as it goes."""
    document = status_document(experiment, record, environment, provenance)
    return {f"{experiment.name}.yaml": yamlio.dump(document, STATUS_HEADER, fast=True)}


class StatusWriter:
    """`status_file` for a run that rewrites its status often: each trial's YAML is kept
    from the write before and only trials that changed are serialized again (a finished
    trial never changes; a changed one is a new record), so a write costs what changed,
    not the whole run. The text is the same as `status_file`'s."""

    def __init__(
        self, experiment: Experiment, environment: str, provenance: Provenance | None = None
    ):
        self.experiment, self.environment = experiment, environment
        self.provenance = provenance
        self.digest = spec_digest(experiment)
        self.fragments: list[tuple[TrialRecord, str]] = []  # by the trial's place

    def __call__(self, record: ExperimentRecord) -> dict[str, str]:
        if not record.trials:
            return status_file(self.experiment, record, self.environment, self.provenance)
        head = status_head(self.experiment, record, self.environment, self.digest, self.provenance)
        known = self.fragments
        self.fragments = [
            known[index]
            if index < len(known) and known[index][0] is trial
            else (trial, trial_yaml(trial))
            for index, trial in enumerate(record.trials)
        ]
        text = yamlio.dump(head, STATUS_HEADER, fast=True) + "trials:\n"
        return {f"{self.experiment.name}.yaml": text + "".join(t for _, t in self.fragments)}


def trial_yaml(trial: TrialRecord) -> str:
    """The trial as an item of the status's `trials:` list, as the whole document has it:
    the text `yamlio.dump` gives `trial_document(trial)` there, written by lines of a known
    shape where each value's text is yamlio's (a run writes one for every trial it ends)."""
    try:
        return "".join(_trial_lines(trial))
    except yamlio.Unsure:
        text = yamlio.dump({"trials": [trial_document(trial)]}, fast=True)
        return text.split("\n", 1)[1]


def _trial_lines(trial: TrialRecord) -> list[str]:
    """The lines of `trial_document(trial)` as an item of a list; raises yamlio.Unsure
    where a value's text is not yamlio's own to give."""
    text = yamlio.plain_scalar
    lines = [
        f"- name: {text(trial.name)}\n",
        f"  state: {text(trial.state.value)}\n",
        f"  reason: {text(trial.reason)}\n",
    ]
    if trial.message:
        lines.append(f"  message: {text(trial.message)}\n")
    if trial.labels:
        lines.append("  labels:\n")
        for key, value in dict(trial.labels).items():
            lines.append(f"    {yamlio.plain_key(key)}: {text(value)}\n")
    if trial.assignments:
        lines.append("  parameterAssignments:\n")
        for name, value in trial.assignments:
            lines.append(f"  - name: {text(name)}\n    value: {text(value)}\n")
    else:
        lines.append("  parameterAssignments: []\n")
    if trial.metrics:
        lines.append("  metrics:\n")
        for m in trial.metrics:
            low, high, latest = metric_fields(m)
            lines.append(
                f"  - name: {text(m.name)}\n    min: {text(low)}\n    max: {text(high)}\n"
                f"    latest: {text(latest)}\n"
            )
            if m.values:
                lines.append("    values:\n")
                lines += [f"    - {text(value)}\n" for value in m.values]
    else:
        lines.append("  metrics: []\n")
    lines += [f"  {key}: {text(value)}\n" for key, value in trial_tail(trial)]
    return lines


def result_files(
    experiment: Experiment, record: ExperimentRecord, environment: str
) -> dict[str, str]:
    """Every result file: the status, the summary and the pictures."""
    return status_file(experiment, record, environment) | summary_files(
        experiment, record, environment
    )


def summary_files(
    experiment: Experiment, record: ExperimentRecord, environment: str
) -> dict[str, str]:
    """The files for people (the summary and the pictures), written with each commit; the
    run loop has just written the status itself. matplotlib is imported here, by the
    thread that commits, not when the controller starts."""
    from controller.core.plots import curves_plot, objective_plot, parallel_plot

    name = experiment.name
    return {
        f"{name}.md": summary_markdown(experiment, record, environment),
        f"{name}-objective.svg": objective_plot(experiment, record.trials),
        f"{name}-curves.svg": curves_plot(experiment, record.trials),
        f"{name}-parallel.svg": parallel_plot(experiment, record.trials),
    }
