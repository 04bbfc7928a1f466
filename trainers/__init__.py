"""Training workloads that hpo-gen experiments tune, and the small toolkit they use to
report metrics. Importing this package never imports torch or scikit-learn."""

from __future__ import annotations

from trainers.metricline import format_metrics

__all__ = ["format_metrics"]
