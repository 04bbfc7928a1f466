"""Pictures of an experiment run as SVG text (no plotting library): the objective of each
trial in order with the best-so-far line, and a parallel-coordinates view of parameters
against the objective, like Katib's UI. Pure: records in, SVG out, byte-for-byte the same
for the same records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from controller.core.reconcile import objective_value
from controller.core.records import TrialRecord
from generator.katib.models import Experiment

WIDTH, HEIGHT, MARGIN = 640, 320, 48
RIGHT, BOTTOM = WIDTH - MARGIN / 2, HEIGHT - MARGIN


def _line(x1: float, y1: float, x2: float, y2: float, style: str = 'stroke="black"') -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>'


def _text(x: float, y: float, text: str, anchor: str = "middle", style: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {style}>{escape(text)}</text>'


def _svg(body: list[str], title: str) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
    )
    background = '<rect width="100%" height="100%" fill="white"/>'
    heading = _text(WIDTH / 2, 16, title, style='font-size="13"')
    return "\n".join([head, background, heading, *body, "</svg>"]) + "\n"


def _empty(title: str) -> str:
    return _svg([_text(MARGIN, HEIGHT / 2, "no trial has reported a value yet", "start")], title)


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    if high == low:
        return (start + end) / 2
    return start + (value - low) / (high - low) * (end - start)


def _valued(experiment: Experiment, trials: Sequence[TrialRecord]) -> list[tuple[int, float]]:
    """(position in the run, objective) of every trial with a finite objective."""
    found = []
    for index, trial in enumerate(trials):
        value = objective_value(experiment.spec, trial)
        if value is not None and math.isfinite(value):
            found.append((index, value))
    return found


def objective_plot(experiment: Experiment, trials: Sequence[TrialRecord]) -> str:
    objective = experiment.spec.objective
    assert objective is not None
    title = f"{objective.objective_metric_name} per trial ({objective.type})"
    points = _valued(experiment, trials)
    if not points:
        return _empty(title)
    values = [v for _, v in points] + ([objective.goal] if objective.goal is not None else [])
    low, high = min(values), max(values)
    last = max(len(trials), 2)

    def x(index: int) -> float:
        return _scale(index + 1, 1, last, MARGIN, RIGHT)

    def y(value: float) -> float:
        return _scale(value, low, high, BOTTOM, MARGIN)

    body = [
        _line(MARGIN, BOTTOM, RIGHT, BOTTOM),
        _line(MARGIN, MARGIN, MARGIN, BOTTOM),
        _text(MARGIN - 4, y(high) + 4, f"{high:.4g}", "end"),
        _text(MARGIN - 4, y(low) + 4, f"{low:.4g}", "end"),
        _text(WIDTH / 2, HEIGHT - 12, "trial"),
    ]
    if objective.goal is not None:
        body.append(_line(MARGIN, y(objective.goal), RIGHT, y(objective.goal), 'stroke="green"'))
        body.append(_text(RIGHT, y(objective.goal) - 4, "goal", "end", 'fill="green"'))
    maximize = objective.type == "maximize"
    best: float | None = None
    line = []
    for index, value in points:
        best = value if best is None else (max(best, value) if maximize else min(best, value))
        line.append(f"{x(index):.1f},{y(best):.1f}")
        body.append(f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="3.5" fill="steelblue"/>')
    body.append(
        f'<polyline points="{" ".join(line)}" fill="none" stroke="darkorange" stroke-width="2"/>'
    )
    body.append(_text(RIGHT, MARGIN - 8, "best so far", "end", 'fill="darkorange"'))
    return _svg(body, title)


def _axis_positions(texts: list[str]) -> dict[str, float]:
    """Where each value sits on its axis, from 0 to 1: by number, or in sorted order."""
    try:
        numbers = [float(t) for t in texts]
    except ValueError:
        ordered = sorted(set(texts))
        top = max(len(ordered) - 1, 1)
        return {t: _scale(i, 0, top, 0, 1) for i, t in enumerate(ordered)}
    low, high = min(numbers), max(numbers)
    return {t: _scale(float(t), low, high, 0, 1) for t in texts}


def parallel_plot(experiment: Experiment, trials: Sequence[TrialRecord]) -> str:
    """One vertical axis per parameter and one for the objective; a line per trial,
    darker and thicker the better its objective."""
    objective = experiment.spec.objective
    assert objective is not None
    names = [p.name for p in experiment.spec.parameters or []]
    title = f"parameters against {objective.objective_metric_name}"
    rows = [(dict(trials[i].assignments), value) for i, value in _valued(experiment, trials)]
    if not rows or not names:
        return _empty(title)
    axes = [*names, objective.objective_metric_name]
    positions = {axis: _axis_positions([row[0].get(axis, "") for row in rows]) for axis in names}
    objectives = [value for _, value in rows]
    low, high = min(objectives), max(objectives)
    maximize = objective.type == "maximize"

    def ax(index: int) -> float:
        return _scale(index, 0, len(axes) - 1, MARGIN, WIDTH - MARGIN)

    def ay(fraction: float) -> float:
        return _scale(fraction, 0, 1, BOTTOM, MARGIN)

    body = []
    for index, axis in enumerate(axes):
        body.append(_line(ax(index), MARGIN, ax(index), BOTTOM))
        body.append(_text(ax(index), BOTTOM + 16, axis))
    for assignments, value in sorted(rows, key=lambda row: row[1] if maximize else -row[1]):
        quality = _scale(value, low, high, 0, 1) if maximize else _scale(value, high, low, 0, 1)
        fractions = [positions[axis][assignments.get(axis, "")] for axis in names]
        fractions.append(_scale(value, low, high, 0, 1))
        points = " ".join(f"{ax(i):.1f},{ay(f):.1f}" for i, f in enumerate(fractions))
        shade = int(220 - 180 * quality)
        body.append(
            f'<polyline points="{points}" fill="none" stroke="rgb({shade},{shade},255)" '
            f'stroke-width="{1 + 2 * quality:.1f}" opacity="0.8"/>'
        )
    return _svg(body, title)
