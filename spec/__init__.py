"""This repository's experiments and environments. `hpo-gen render` imports every module
here and renders each Experiment and Environment defined at module level."""
