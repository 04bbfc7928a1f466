"""Experiment sources: where the experiments to run come from."""
