"""Katib's wire facts, each in one place: the models, the defaults, the algorithm catalogue,
placeholders, the status document, the repository layout."""
