"""Reporting metrics from a training script, with no dependency beyond the standard
library: `print_metrics` writes Katib's StdOut line, `MetricsFile` appends to a metrics
file for Katib's File collector (TEXT or JSON lines), and `report_metrics` pushes values
for the Push collector.

Push: hpo-controller tells each trial where to push in its environment. A local trial
gets a file (HPO_PUSH_METRICS_FILE); a trial in a cluster gets the controller's URL
(HPO_PUSH_METRICS_URL) and a token of its own (HPO_PUSH_METRICS_TOKEN), and each report is
one HTTP POST, tried again for a while where the controller cannot be reached (it may be
restarting). Outside a controller (a plain run) the values are printed instead, so a
script behaves the same in a notebook, a terminal or a trial."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from trainers.metricline import format_metrics, format_value

PUSH_ENVIRONMENT = "HPO_PUSH_METRICS_FILE"
URL_ENVIRONMENT, TOKEN_ENVIRONMENT = "HPO_PUSH_METRICS_URL", "HPO_PUSH_METRICS_TOKEN"
PUSH_ATTEMPTS, PUSH_BACKOFF = 8, 0.5  # about a minute in all, doubling to 16 s
FileFormat = Literal["text", "json"]


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def print_metrics(**values: float) -> None:
    """One Katib StdOut line on standard output: `epoch=3 loss=0.1234 accuracy=0.9567`."""
    print(format_metrics(**values), file=sys.stdout, flush=True)


def json_record(values: dict[str, float]) -> str:
    """A JSON metrics line as Katib's File collector reads it: values as strings (Katib
    ignores numbers, #2162) and an RFC 3339 timestamp."""
    record = {name: format_value(value) for name, value in values.items()}
    record["timestamp"] = _timestamp()
    return json.dumps(record, sort_keys=False)


class MetricsFile:
    """Appends metrics to a file, a line per report, flushed at once."""

    def __init__(self, path: str | Path, file_format: FileFormat = "text"):
        if file_format not in ("text", "json"):
            raise ValueError(f"metrics file format must be 'text' or 'json', got {file_format!r}")
        self.path = Path(path)
        self.format = file_format
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **values: float) -> None:
        if not values:
            raise ValueError("write() needs at least one metric")
        line = json_record(values) if self.format == "json" else format_metrics(**values)
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(line + "\n")


def report_metrics(**values: float) -> None:
    """Report metric values for the Push collector (or print them when not in a trial)."""
    if not values:
        raise ValueError("report_metrics() needs at least one metric, e.g. accuracy=0.9")
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"metric {name!r} must be a number, got {value!r}")
    url = os.environ.get(URL_ENVIRONMENT)
    target = os.environ.get(PUSH_ENVIRONMENT)
    if url:
        post_metrics(url, os.environ.get(TOKEN_ENVIRONMENT, ""), **values)
    elif target:
        MetricsFile(target, "json").write(**values)
    else:
        print_metrics(**values)


def post_metrics(url: str, token: str, **values: float) -> None:
    """One report to the controller at `url` with the trial's `token`; RuntimeError when
    it is refused or, after the retries, still cannot be reached (a lost report would make
    the trial's result wrong)."""
    request = urllib.request.Request(
        url,
        data=json_record(values).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    wait = PUSH_BACKOFF
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=10):
                return
        except urllib.error.HTTPError as err:
            said = err.read(200).decode("utf-8", "replace").strip()
            if err.code < 500:
                raise RuntimeError(
                    f"the controller refused the metrics ({err.code}: {said})"
                ) from None
            problem = f"{err.code}: {said}"
        except (urllib.error.URLError, OSError) as err:
            problem = str(getattr(err, "reason", err))
        if attempt < PUSH_ATTEMPTS:
            time.sleep(wait)
            wait = min(wait * 2, 16.0)
    raise RuntimeError(
        f"the metrics could not be pushed to the controller after {PUSH_ATTEMPTS} tries ({problem})"
    )
