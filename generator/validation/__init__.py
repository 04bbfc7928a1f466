"""Validation: Katib's admission rules, the strict schemas, the update rules, and `hpo-gen
validate`."""
