"""How a run reports itself on the console: log lines (text or JSON) and the live display."""
