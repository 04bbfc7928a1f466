"""The suggestion algorithms the controller runs: a small base (`base`), an explicit registry
(`registry`), one module per family."""
