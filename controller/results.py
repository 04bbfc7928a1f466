"""The files of an experiment's results under `status/<env>/`: the machine-readable status
(YAML), the Markdown summary, and its two pictures. Pure: file name -> text."""

from __future__ import annotations

from controller.plots import objective_plot, parallel_plot
from controller.records import ExperimentRecord
from controller.status import status_document
from controller.summary import summary_markdown
from generator import yamlio
from generator.models import Experiment

STATUS_HEADER = "Written by `hpo-controller run`: the results of one experiment. Do not edit."


def status_file(
    experiment: Experiment, record: ExperimentRecord, environment: str
) -> dict[str, str]:
    """The machine-readable status alone: what a run rewrites as it goes."""
    document = status_document(experiment, record, environment)
    return {f"{experiment.name}.yaml": yamlio.dump(document, STATUS_HEADER, fast=True)}


def result_files(
    experiment: Experiment, record: ExperimentRecord, environment: str
) -> dict[str, str]:
    """Every result file: the status, the summary and the pictures (for each commit)."""
    name = experiment.name
    return {
        **status_file(experiment, record, environment),
        f"{name}.md": summary_markdown(experiment, record, environment),
        f"{name}-objective.svg": objective_plot(experiment, record.trials),
        f"{name}-parallel.svg": parallel_plot(experiment, record.trials),
    }
