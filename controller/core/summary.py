"""The Markdown summary of an experiment run that a person reads on GitHub or GitLab: how
it stands and why, the budget used, the best trial with all its metrics and parameters,
the pictures, and every trial (parameters, every metric by its strategy, state and why,
duration, log). Pure."""

from __future__ import annotations

from collections.abc import Sequence

from controller.core.reconcile import best_trial, objective_value
from controller.core.records import ExperimentRecord, MetricSummary, TrialRecord, TrialState, tally
from controller.core.status import UNAVAILABLE
from generator.files.escaping import markdown_text
from generator.katib.models import Experiment, ExperimentSpec
from generator.katib.status import seconds_between

HEADER = "<!-- Written by `hpo-controller run`: the results of one experiment. Do not edit. -->"
CELL_WIDTH = 48  # characters of a value shown in the trials table (NAS values are JSON)
PICTURES = (  # file suffix, alternative text
    ("-objective.svg", "{metric} per trial, the best so far and the goal"),
    ("-curves.svg", "{metric} over each trial's steps"),
    ("-parallel.svg", "parameters against {metric}"),
)


def md(text: str, width: int | None = None) -> str:
    """Literal Markdown text, cut to `width` characters with an ellipsis."""
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return markdown_text(text)


def strategies(spec: ExperimentSpec) -> dict[str, str]:
    """Each metric's strategy (min, max or latest) as metricStrategies says, the
    objective's first; `latest` where it says nothing."""
    assert spec.objective is not None
    objective = spec.objective
    named = {s.name: s.value for s in objective.metric_strategies or []}
    names = [objective.objective_metric_name, *(objective.additional_metric_names or [])]
    return {name: named.get(name, "latest") for name in names}


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _value(summary: MetricSummary | None, strategy: str) -> str:
    return "" if summary is None else summary.shown(strategy)


def state_note(trial: TrialRecord) -> str:
    """Why a trial is in its state, where that needs saying: a failure's reason and
    message, an early stop's step and threshold, a kill's cause."""
    if trial.state in (TrialState.SUCCEEDED, TrialState.RUNNING, TrialState.PENDING):
        return ""
    return trial.message or trial.reason


def summary_markdown(experiment: Experiment, record: ExperimentRecord, environment: str) -> str:
    spec = experiment.spec
    assert spec.objective is not None
    metrics = strategies(spec)
    lines = [HEADER, f"# {md(experiment.name)}", ""]
    lines += _overview(experiment, record, environment)
    lines += ["", "## Best trial", ""]
    lines += _best(spec, record.trials, metrics)
    lines += ["", "## Pictures", ""]
    metric = spec.objective.objective_metric_name
    for suffix, text in PICTURES:
        lines.append(f"![{md(text.format(metric=metric))}]({experiment.name}{suffix})")
        lines.append("")
    lines += ["## Trials", ""]
    lines += _table(spec, record.trials, metrics)
    return "\n".join(lines) + "\n"


def _overview(experiment: Experiment, record: ExperimentRecord, environment: str) -> list[str]:
    spec = experiment.spec
    objective = spec.objective
    assert objective is not None
    done = record.completion
    if done is not None:
        state = f"**{done.condition}**: {md(done.reason)}" + (
            f", {md(done.message)}" if done.message else ""
        )
    else:
        state = "**Running**"
    goal = f", goal {objective.goal:g}" if objective.goal is not None else ""
    algorithm = spec.algorithm.algorithm_name if spec.algorithm else ""
    settings = (
        ", ".join(f"{s.name}={s.value}" for s in (spec.algorithm.algorithm_settings or []))
        if spec.algorithm
        else ""
    )
    lines = [
        f"- State: {state}",
        f"- Objective: {objective.type} {md(objective.objective_metric_name)}{goal}",
        f"- Algorithm: {md(algorithm)}" + (f" ({md(settings)})" if settings else ""),
    ]
    stopping = spec.early_stopping
    if stopping is not None:
        rule = ", ".join(f"{s.name}={s.value}" for s in stopping.algorithm_settings or [])
        lines.append(
            f"- Early stopping: {md(stopping.algorithm_name)}" + (f" ({md(rule)})" if rule else "")
        )
    counted = ", ".join(f"{n} {state}" for state, n in tally(record.trials).items())
    budget = f" of at most {spec.max_trial_count}" if spec.max_trial_count else ""
    failed = sum(t.state.is_failed for t in record.trials)
    failures = (
        f"; {failed} failed of at most {spec.max_failed_trial_count}"
        if spec.max_failed_trial_count is not None
        else ""
    )
    lines += [
        f"- Budget: {len(record.trials)} trials{budget}, {spec.parallel_trial_count or 1} at "
        f"a time{failures}" + (f" ({counted})" if counted else ""),
        f"- Environment: {md(environment)}, namespace {md(record.namespace or 'default')}",
    ]
    took = duration(seconds_between(record.start_time, record.completion_time))
    if record.start_time:
        lines.append(
            f"- Started {md(record.start_time)}"
            + (f", ended {md(record.completion_time)} ({took})" if record.completion_time else "")
        )
    return lines


def _best(
    spec: ExperimentSpec, trials: Sequence[TrialRecord], metrics: dict[str, str]
) -> list[str]:
    best = best_trial(spec, trials)
    if best is None:
        return ["No trial has reported the objective yet."]
    lines = [
        f"{md(best.name)} ({best.state.value}, {duration(_took(best)) or 'no duration'})",
        "",
        "| metric | strategy | value | min | max | latest |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, strategy in metrics.items():
        summary = best.metric(name)
        if summary is None:
            lines.append(f"| {md(name)} | {strategy} | not reported | | | |")
            continue
        if summary.text is not None:  # kept as text, as Katib keeps DARTS's genotype
            shown = [summary.text, UNAVAILABLE, UNAVAILABLE, summary.text]
        else:
            shown = [_value(summary, s) for s in (strategy, "min", "max", "latest")]
        lines.append(f"| {md(name)} | {strategy} | " + " | ".join(md(v) for v in shown) + " |")
    lines += ["", "| parameter | value |", "| --- | --- |"]
    lines += [f"| {md(name)} | {md(value)} |" for name, value in best.assignments]
    return lines


def _took(trial: TrialRecord) -> float | None:
    return seconds_between(trial.start_time, trial.completion_time)


def _assigned(trials: Sequence[TrialRecord]) -> list[str]:
    """The names the trials were assigned, in the order first seen (a NAS experiment has
    no parameters in its spec, but each trial has `architecture` and `nn_config`)."""
    names: dict[str, None] = {}
    for trial in trials:
        names.update((name, None) for name, _ in trial.assignments)
    return list(names)


def _table(
    spec: ExperimentSpec, trials: Sequence[TrialRecord], metrics: dict[str, str]
) -> list[str]:
    """Every trial, the best first (those without an objective last, in run order)."""
    assert spec.objective is not None
    parameters = [p.name for p in spec.parameters or []] or _assigned(trials)
    heads = [
        "#",
        "trial",
        "state",
        *(f"{name} ({strategy})" for name, strategy in metrics.items()),
        *parameters,
        "duration",
        "log",
        "why",
    ]
    lines = [
        "| " + " | ".join(md(h) for h in heads) + " |",
        "| " + " | ".join(["---"] * len(heads)) + " |",
    ]
    sign = -1 if spec.objective.type == "maximize" else 1
    ranked = []
    for index, trial in enumerate(trials):
        value = objective_value(spec, trial)
        if value is None or value != value:
            ranked.append(((1, 0.0, index), trial))
        else:
            ranked.append(((0, sign * value, index), trial))
    ranked.sort(key=lambda item: item[0])
    for (_, _, index), trial in ranked:
        assigned = dict(trial.assignments)
        cells = [
            str(index + 1),
            md(trial.name),
            trial.state.value,
            *(md(_value(trial.metric(name), s), CELL_WIDTH) for name, s in metrics.items()),
            *(md(assigned.get(name, ""), CELL_WIDTH) for name in parameters),
            duration(_took(trial)),
            md(trial.log or ""),
            md(state_note(trial)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
