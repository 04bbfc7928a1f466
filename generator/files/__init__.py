"""Text formats and files at the bottom of hpo-gen: YAML (the only module that imports
ruamel.yaml), atomic writes, escaping for each line-based format, and where in which file
a value was written."""
