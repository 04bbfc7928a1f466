"""Metrics collection: StdOut, File (TEXT and JSON), TensorFlowEvent and Push, and the
summaries of what a trial reported."""
