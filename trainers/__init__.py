"""Training workloads that hpo-gen experiments tune, and the small toolkit any training
script can use to report metrics the way Katib reads them. Importing this package never
imports torch or scikit-learn.

    from trainers import report_metrics
    report_metrics(accuracy=0.93, loss=0.21)
"""

from __future__ import annotations

from trainers.metricline import format_metrics
from trainers.reporting import MetricsFile, print_metrics, report_metrics

__all__ = ["MetricsFile", "format_metrics", "print_metrics", "report_metrics"]
