"""Pictures of an experiment run as SVG, drawn with matplotlib: the objective of each trial
with the best-so-far line and the goal; every trial's objective over its steps, with the
early-stopped trials marked where they stopped; and parameters against the objective as
parallel coordinates with labelled axes and a colour scale, like Katib's UI.

Records in, SVG text out, byte-for-byte the same for the same records (no date, ids from
the content). Each picture is a `Figure` of its own, never pyplot's global state, so they
can be drawn on a thread off the run loop. An opaque white background and dark ink make
them read the same on a page in a light theme and in a dark one; the colour scale
(viridis) reads in grey and to colour-blind eyes."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import Locator, LogLocator, MaxNLocator

from controller.core.reconcile import objective_value
from controller.core.records import TrialRecord, TrialState
from generator.files.escaping import one_line
from generator.katib.models import Experiment, ParameterSpec

WIDTH, HEIGHT = 8.0, 4.0  # inches at 100 dpi: about the width of a GitHub page's text
INK, GRID, BACKGROUND = "#24292f", "#d0d7de", "#ffffff"
POINT, BEST, GOAL, STOPPED, FAILED = "#0969da", "#bc4c00", "#1a7f37", "#cf222e", "#6e7781"
COLOURS = "viridis"
LARGEST = 1e150  # larger values are not drawn (`drawable`)
BANDS = 32  # the parallel coordinates' lines are drawn in this many shades of the scale
LABEL_WIDTH = 18  # characters of a category's name shown on its axis
MARKERS = {  # how a trial's state is drawn: colour, marker, legend label
    TrialState.SUCCEEDED: (POINT, "o", "succeeded"),
    TrialState.EARLY_STOPPED: (STOPPED, "X", "early stopped"),
}
OTHER = (FAILED, "s", "other states")

STYLE: dict[str, Any] = {
    "text.parse_math": False,  # a `$` in a name or category is text, never TeX to parse
    "svg.fonttype": "none",  # text stays text: smaller, and searchable on the page
    "svg.hashsalt": "hpo-gen",  # element ids from a fixed salt, not a random one
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "axes.titlecolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
    "legend.fontsize": 8,
}


def _joined(lines: Sequence[Sequence[tuple[float, float]]]) -> tuple[list[float], list[float]]:
    """Many lines as one: their points, each line apart from the next by a gap (nan),
    which matplotlib draws as one path. A picture of 1,000 trials writes a path per group
    of lines, not one per line, in a fraction of the time and size."""
    xs: list[float] = []
    ys: list[float] = []
    for line in lines:
        if xs:
            xs.append(math.nan)
            ys.append(math.nan)
        xs += [x for x, _ in line]
        ys += [y for _, y in line]
    return xs, ys


def drawable(value: float) -> bool:
    """Whether a value can be placed on a scale: finite, and far enough from the float's
    limits that the scale's arithmetic does not overflow. Others (nan, inf, 1e300) are
    left out of the pictures; the summary's table shows them."""
    return math.isfinite(value) and abs(value) < LARGEST


@dataclass(frozen=True)
class Point:
    """A trial with a drawable objective: its number in the run (from 1), value, state."""

    number: int
    value: float
    state: TrialState


def _draw(title: str, draw: Callable[[Figure], None]) -> str:
    with matplotlib.rc_context(STYLE), warnings.catch_warnings():  # type: ignore[arg-type]
        # The text stays text in the SVG, drawn by the viewer's fonts: a character that
        # matplotlib's own font lacks is no concern of the picture's.
        warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        figure = Figure(figsize=(WIDTH, HEIGHT), dpi=100, facecolor=BACKGROUND)
        figure.set_layout_engine("constrained")
        figure.suptitle(title, fontsize=11)
        draw(figure)
        out = _Text()
        FigureCanvasSVG(figure).print_svg(out, metadata={"Date": None})  # type: ignore[no-untyped-call]
    return "".join(out.parts)


class _Text:
    """Where matplotlib writes the SVG: text collected in memory. To matplotlib it is a
    text file handle: it has `seek` (how matplotlib tells a handle from a file name; never
    called) and refuses bytes (how it tells a text handle from a binary one)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("text only")
        self.parts.append(text)
        return len(text)

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("the SVG is written front to back")


def _empty(figure: Figure, text: str = "no trial has reported a value yet") -> None:
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, text, ha="center", va="center")


def _grid(axes: Axes) -> None:
    axes.set_facecolor(BACKGROUND)
    axes.grid(color=GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _legend(axes: Axes, handles: list[Line2D]) -> None:
    """Outside the plotting area, on the right: it never hides a point or a line."""
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def points(experiment: Experiment, trials: Sequence[TrialRecord]) -> list[Point]:
    """Every trial with a drawable objective, numbered by its place in the run."""
    found = []
    for index, trial in enumerate(trials):
        value = objective_value(experiment.spec, trial)
        if value is not None and drawable(value):
            found.append(Point(index + 1, value, trial.state))
    return found


def objective_plot(experiment: Experiment, trials: Sequence[TrialRecord]) -> str:
    """The objective of each trial in the order they were created, by state; the best
    so far over the finished ones; the goal."""
    objective = experiment.spec.objective
    assert objective is not None
    metric = one_line(objective.objective_metric_name)
    found = points(experiment, trials)

    def draw(figure: Figure) -> None:
        if not found:
            return _empty(figure)
        axes = figure.add_subplot()
        _grid(axes)
        handles = []
        for state_style in [*MARKERS.values(), OTHER]:
            colour, marker, label = state_style
            chosen = [p for p in found if MARKERS.get(p.state, OTHER) == state_style]
            if chosen:
                axes.scatter(
                    [p.number for p in chosen],
                    [p.value for p in chosen],
                    s=22,
                    color=colour,
                    marker=marker,
                    zorder=3,
                )
                handles.append(_marker(colour, marker, label))
        maximize = objective.type == "maximize"
        best_x, best_y = [], []
        best: float | None = None
        for p in found:
            if p.state.is_scored:
                best = p.value if best is None else (max if maximize else min)(best, p.value)
                best_x.append(p.number)
                best_y.append(best)
        if best_x:
            best_x.append(max(len(trials), best_x[-1]))
            best_y.append(best_y[-1])
            axes.step(best_x, best_y, where="post", color=BEST, linewidth=1.8, zorder=2)
            handles.append(Line2D([], [], color=BEST, linewidth=1.8, label="best so far"))
        if objective.goal is not None:
            axes.axhline(objective.goal, color=GOAL, linestyle="--", linewidth=1.2, zorder=1)
            handles.append(
                Line2D([], [], color=GOAL, linestyle="--", label=f"goal {objective.goal:g}")
            )
        axes.set_xlim(0.5, max(len(trials), 1) + 0.5)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes.set_xlabel("trial, in the order created")
        axes.set_ylabel(metric)
        _legend(axes, handles)

    return _draw(f"{metric} per trial ({objective.type})", draw)


def _marker(colour: str, marker: str, label: str) -> Line2D:
    return Line2D([], [], color=colour, marker=marker, linestyle="", markersize=6, label=label)


def curves_plot(experiment: Experiment, trials: Sequence[TrialRecord]) -> str:
    """Every trial's objective over the steps it reported; an early-stopped trial drawn
    in red and crossed where it stopped; the goal."""
    objective = experiment.spec.objective
    assert objective is not None
    name = objective.objective_metric_name
    metric = one_line(name)
    series: list[tuple[TrialState, list[tuple[float, float]]]] = []
    for trial in trials:
        summary = trial.metric(name)
        if summary is None or not summary.values:
            continue
        line = [(s + 1.0, v) for s, v in enumerate(summary.values) if drawable(v)]
        if line:
            series.append((trial.state, line))

    def draw(figure: Figure) -> None:
        if not series:
            return _empty(figure)
        axes = figure.add_subplot()
        _grid(axes)
        handles = []
        kinds = [
            (TrialState.SUCCEEDED, POINT, "succeeded"),
            (TrialState.RUNNING, BEST, "running"),
            (TrialState.EARLY_STOPPED, STOPPED, "early stopped (x: where)"),
        ]
        drawn = {state for state, _, _ in kinds}
        for state, colour, label in [*kinds, (None, FAILED, "other states")]:
            lines = [line for s, line in series if s is state or (state is None and s not in drawn)]
            if not lines:
                continue
            alpha = max(0.4, min(0.9, 8 / len(lines)))
            axes.plot(*_joined(lines), color=colour, linewidth=1.2, alpha=alpha)
            handles.append(Line2D([], [], color=colour, linewidth=1.5, label=label))
            if state is TrialState.EARLY_STOPPED:
                ends = [line[-1] for line in lines]
                axes.scatter(
                    [x for x, _ in ends], [y for _, y in ends], color=STOPPED, marker="X", s=36
                )
        if objective.goal is not None:
            axes.axhline(objective.goal, color=GOAL, linestyle="--", linewidth=1.2)
            handles.append(
                Line2D([], [], color=GOAL, linestyle="--", label=f"goal {objective.goal:g}")
            )
        axes.autoscale_view()
        axes.set_xlim(left=0.5)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes.set_xlabel("step (report)")
        axes.set_ylabel(metric)
        _legend(axes, handles)

    return _draw(f"{metric} over each trial's steps", draw)


@dataclass(frozen=True)
class Coordinate:
    """One vertical axis of the parallel coordinates: where each trial's value sits on it
    (0 to 1), and the ticks to label it with (position, text)."""

    name: str
    positions: list[float]
    ticks: list[tuple[float, str]]


def _numeric_axis(name: str, values: list[float], log: bool, integer: bool = False) -> Coordinate:
    low, high = min(values), max(values)
    bottom, top = (low, high) if high > low else (low - 1, high + 1)
    locator: Locator
    if log and low > 0 and high > low:
        norm: Normalize = LogNorm(bottom, top)
        locator = LogLocator(subs=(1.0, 2.0, 5.0))
    else:
        norm = Normalize(bottom, top)
        locator = MaxNLocator(5, integer=integer)
    ticks = [t for t in locator.tick_values(bottom, top) if low <= t <= high]
    if len(ticks) < 2:
        ticks = [low, high] if high > low else [low]
    positions = np.asarray(norm(np.asarray(values, dtype=float)), dtype=float)
    at = np.asarray(norm(np.asarray(ticks, dtype=float)), dtype=float)
    return Coordinate(
        name,
        positions.tolist(),
        [(float(p), f"{t:.4g}") for p, t in zip(at, ticks, strict=True)],
    )


def _short(text: str) -> str:
    return text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 1] + "…"


def _category_axis(name: str, texts: list[str], order: list[str]) -> Coordinate:
    known = [c for c in order if c in set(texts)] + sorted(set(texts) - set(order))
    top = max(len(known) - 1, 1)
    where = {c: (i / top if len(known) > 1 else 0.5) for i, c in enumerate(known)}
    return Coordinate(
        name,
        [where[t] for t in texts],
        [(where[c], _short(one_line(c))) for c in known],
    )


def _coordinate(parameter: ParameterSpec | None, name: str, texts: list[str]) -> Coordinate:
    """A parameter's axis: numbers on a linear (or, for log distributions, log) scale,
    anything else as named categories in the spec's order."""
    kind = parameter.parameter_type if parameter else "double"
    space = parameter.feasible_space if parameter else None
    if kind in ("double", "int", "discrete"):
        try:
            numbers = [float(t) for t in texts]
        except ValueError:
            numbers = []
        if numbers and all(drawable(n) for n in numbers):
            log = bool(space and space.distribution in ("logUniform", "logNormal"))
            return _numeric_axis(name, numbers, log, integer=kind == "int")
    return _category_axis(name, texts, list(space.list_ or []) if space else [])


def parallel_plot(experiment: Experiment, trials: Sequence[TrialRecord]) -> str:
    """One vertical axis per parameter and one for the objective, each labelled with its
    values; a line per trial with a drawable objective, coloured by it (the best on top),
    and the colour scale with its legend."""
    objective = experiment.spec.objective
    assert objective is not None
    metric = one_line(objective.objective_metric_name)
    parameters = {p.name: p for p in experiment.spec.parameters or []}
    found = points(experiment, trials)
    maximize = objective.type == "maximize"

    def draw(figure: Figure) -> None:
        if not parameters:  # a NAS experiment: its architectures are no axes
            return _empty(
                figure,
                "no search-space parameters: the summary's table has each trial's assignments",
            )
        if not found:
            return _empty(figure)
        ordered = sorted(found, key=lambda p: p.value if maximize else -p.value)
        assigned = [dict(trials[p.number - 1].assignments) for p in ordered]
        values = [p.value for p in ordered]
        coordinates = [
            _coordinate(spec, name, [a.get(name, "") for a in assigned])
            for name, spec in parameters.items()
        ]
        coordinates.append(_numeric_axis(metric, values, log=False))
        axes = figure.add_subplot()
        axes.set_facecolor(BACKGROUND)
        count = len(coordinates)
        norm = Normalize(min(values), max(values)) if len(set(values)) > 1 else None
        colour_map = matplotlib.colormaps[COLOURS]
        shades = np.asarray(norm(np.asarray(values)) if norm else np.full(len(values), 0.5))
        bands = np.minimum((shades * BANDS).astype(int), BANDS - 1)
        # one path per band of the colour scale, the best band drawn last (on top)
        for band in sorted(set(bands.tolist()), reverse=not maximize):
            rows = np.flatnonzero(bands == band)
            lines = [
                [(float(i), c.positions[row]) for i, c in enumerate(coordinates)] for row in rows
            ]
            colour = colour_map((band + 0.5) / BANDS)
            axes.plot(*_joined(lines), color=colour, linewidth=1.4, alpha=0.85)
        for index, coordinate in enumerate(coordinates):
            axes.axvline(index, color=INK, linewidth=0.8)
            for position, text in coordinate.ticks:
                axes.plot([index - 0.02, index], [position, position], color=INK, lw=0.8)
                axes.text(index - 0.04, position, text, ha="right", va="center", fontsize=7)
        axes.set_xlim(-0.45, count - 1 + 0.15)
        axes.set_ylim(-0.05, 1.05)
        axes.set_xticks(range(count), [_short(one_line(c.name)) for c in coordinates])
        axes.set_yticks([])
        for side in ("top", "right", "left", "bottom"):
            axes.spines[side].set_visible(False)
        axes.tick_params(axis="x", length=0)
        scale = ScalarMappable(norm or Normalize(values[0] - 1, values[0] + 1), colour_map)
        figure.colorbar(scale, ax=axes, label=f"{metric} ({objective.type})", pad=0.02)

    return _draw(f"parameters against {metric}", draw)
