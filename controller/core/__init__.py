"""The controller's pure core: no threads, no I/O, no clock. Trial records, Katib's completion
rules, the decision step, resume, the status document's construction and the summaries."""
