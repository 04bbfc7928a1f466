"""hpo-gen's spec language: Katib experiments written in Python.

from generator import SearchSpace, double, experiment, job, container, maximize, tpe
"""

from __future__ import annotations

from generator.katib.models import Experiment
from generator.katib.placeholders import (
    TRIAL_API_VERSION,
    TRIAL_KIND,
    TRIAL_NAME,
    TRIAL_NAMESPACE,
    trial_annotation,
    trial_label,
)
from generator.language.builders import (
    algorithm,
    config_map_source,
    container,
    experiment,
    job,
    maximize,
    minimize,
    trial_parameter,
    trial_template,
)
from generator.language.collectors import (
    custom_collector,
    file_collector,
    metrics_collector,
    prometheus_collector,
    push_collector,
    stdout_collector,
    tensorflow_event_collector,
)
from generator.language.configmaps import trial_templates
from generator.language.environments import (
    Environment,
    budget,
    environment,
    gitops,
    image,
    resources,
)
from generator.language.nas import nas_config, operation
from generator.language.space import SearchSpace, categorical, discrete, double, integer
from generator.language.tuning import (
    bayesian_optimization,
    cmaes,
    darts,
    early_stopping,
    enas,
    grid,
    hyperband,
    median_stop,
    multivariate_tpe,
    pbt,
    random_search,
    sobol,
    tpe,
)

__all__ = [
    "TRIAL_API_VERSION",
    "TRIAL_KIND",
    "TRIAL_NAME",
    "TRIAL_NAMESPACE",
    "Environment",
    "Experiment",
    "SearchSpace",
    "algorithm",
    "bayesian_optimization",
    "budget",
    "categorical",
    "cmaes",
    "config_map_source",
    "container",
    "custom_collector",
    "darts",
    "discrete",
    "double",
    "early_stopping",
    "enas",
    "environment",
    "experiment",
    "file_collector",
    "gitops",
    "grid",
    "hyperband",
    "image",
    "integer",
    "job",
    "maximize",
    "median_stop",
    "metrics_collector",
    "minimize",
    "multivariate_tpe",
    "nas_config",
    "operation",
    "pbt",
    "prometheus_collector",
    "push_collector",
    "random_search",
    "resources",
    "sobol",
    "stdout_collector",
    "tensorflow_event_collector",
    "tpe",
    "trial_annotation",
    "trial_label",
    "trial_parameter",
    "trial_template",
    "trial_templates",
]
