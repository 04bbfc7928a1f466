"""How a run reports itself in log lines: as text or as JSON objects (`--log-format`). The
live display for a terminal is `controller.live`."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, message."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return json.dumps(
            {"time": stamp, "level": record.levelname.lower(), "message": record.getMessage()}
        )


def configure_logging(log_format: str, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("hpo-controller: %(message)s"))
    root = logging.getLogger("hpo-controller")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
