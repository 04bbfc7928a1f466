"""A repository laid out for hpo-gen, as a whole: loading its spec modules, the pipeline
over it (validate, render, check), and writing the rendered tree."""
