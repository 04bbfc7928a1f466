"""The spec language: builders of experiments, algorithms, search spaces, collectors, environments
and NAS spaces."""
