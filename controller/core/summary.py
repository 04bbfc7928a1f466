"""The Markdown summary of an experiment run that a person reads on GitHub: the goal,
why it ended, the best trial and its parameters, the pictures, and every trial sorted by
the objective. Pure."""

from __future__ import annotations

from controller.core.reconcile import best_trial, objective_shown, objective_value
from controller.core.records import ExperimentRecord
from generator.files.escaping import markdown_text as md
from generator.katib.models import Experiment

HEADER = "<!-- Written by `hpo-controller run`: the results of one experiment. Do not edit. -->"


def summary_markdown(experiment: Experiment, record: ExperimentRecord, environment: str) -> str:
    spec = experiment.spec
    objective = spec.objective
    assert objective is not None
    metric = objective.objective_metric_name
    goal = f", goal {objective.goal:g}" if objective.goal is not None else ""
    algorithm = spec.algorithm.algorithm_name if spec.algorithm else ""
    budget = f" of at most {spec.max_trial_count}" if spec.max_trial_count else ""
    lines = [
        HEADER,
        f"# {md(experiment.name)}",
        "",
        f"- Objective: {objective.type} {md(metric)}{goal}",
        f"- Algorithm: {md(algorithm)}",
        f"- Environment: {md(environment)}, namespace {md(record.namespace or 'default')}",
        f"- Trials: {len(record.trials)}{budget}, {spec.parallel_trial_count} at a time",
    ]
    done = record.completion
    if done is not None:
        lines.append(f"- Ended: {done.condition}, {md(done.reason)}: {md(done.message)}")
    else:
        lines.append("- Still running")
    best = best_trial(spec, record.trials)
    lines += ["", "## Best trial", ""]
    if best is None:
        lines.append("No trial has reported the objective yet.")
    else:
        shown_best = md(objective_shown(spec, best))
        lines += [f"{md(best.name)}: {md(metric)} = {shown_best}", ""]
        lines += ["| parameter | value |", "| --- | --- |"]
        lines += [f"| {md(name)} | {md(assigned)} |" for name, assigned in best.assignments]
    lines += [
        "",
        f"![{md(metric)} per trial]({experiment.name}-objective.svg)",
        f"![parameters against {md(metric)}]({experiment.name}-parallel.svg)",
        "",
        "## Trials",
        "",
    ]
    names = [p.name for p in spec.parameters or []]
    lines.append("| trial | state | " + " | ".join(md(n) for n in [metric, *names]) + " |")
    lines.append("| --- | --- | " + " | ".join(["---"] * (len(names) + 1)) + " |")
    sign = -1 if objective.type == "maximize" else 1
    scored = [(objective_value(spec, t), i, t) for i, t in enumerate(record.trials)]
    scored.sort(
        key=lambda item: (
            (1, 0.0, item[1])
            if item[0] is None or item[0] != item[0]
            else (0, sign * item[0], item[1])
        )
    )
    for _, _, trial in scored:
        assigned = dict(trial.assignments)
        shown = [md(assigned.get(n, "")) for n in names]
        lines.append(
            "| "
            + " | ".join(
                [md(trial.name), trial.state.value, md(objective_shown(spec, trial)), *shown]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
