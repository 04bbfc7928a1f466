"""Container images the experiments' trials run in."""

TRAINERS_IMAGE = "hpo-gen-trainers:0.1.0"
