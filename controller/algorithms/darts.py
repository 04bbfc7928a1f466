"""darts: as Katib's service, the search runs inside the trial (`trainers.nas darts`);
every trial gets the same assignments, the experiment's settings over Katib's defaults,
the search space's primitives and the layer count (`generator.katib.nas`). Unlike the
other algorithms, the same assignments are suggested again for every trial asked for: each
trial is one more search from its own random start."""

from __future__ import annotations

from collections.abc import Sequence

from controller.algorithms.base import Assignments
from generator.katib.models import NasConfig
from generator.katib.nas import darts_assignments


class DartsSuggester:
    exhausted = False

    def __init__(self, nas: NasConfig, settings: Sequence[tuple[str, str]]):
        graph = nas.graph_config
        self.assignments = darts_assignments(
            settings, nas.operations or [], graph.num_layers if graph else None
        )

    def suggest(self, count: int) -> list[Assignments]:
        return [self.assignments] * count

    def observe(self, assignments: Assignments, value: float | None) -> None:
        """Nothing to learn: each trial searches on its own."""

    def restore(self, history: Sequence[tuple[Assignments, float | None]]) -> None:
        """Nothing to rebuild."""

    def reserve(self, assignments: Assignments) -> None:
        """The same assignments may run any number of times."""
