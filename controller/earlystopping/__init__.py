"""Early stopping rules the controller runs: Katib's medianstop."""
