"""`hpo-gen import`: Katib YAML read in and written out as Python spec modules."""
