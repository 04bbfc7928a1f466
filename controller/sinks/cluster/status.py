"""The Experiment's own `.status`, written through the status subresource in Katib's shape
(conditions, the trial counters and lists, currentOptimalTrial, start and completion
times), so that `kubectl get experiments`, Katib's UI and Argo CD's health check read the
truth. Beside Katib's fields it keeps what a restarted controller resumes from: the spec's
digest (`specDigest`) and every trial's record without its metric series
(`trialRecords`); a Katib controller ignores both (its CRD keeps unknown fields).

Each write is one merge patch of the whole status, the fields it no longer has set to
null; the engine writes at most once a second, so a burst of trial ends is one write.
The status is built from the run's record, which the sink is told as the engine changes
it (`observe`), each finished trial's document once; the file texts the engine hands to
every sink are for git. A write the API still refuses after its retries is logged: the
next write carries the whole status again.

Where results are pushed to a git remote, a condition `ResultsPushed` says whether the
remote has them (status "False", reason `PushFailed`, while they are kept on the local
status branch for a later try). It comes first in the list: Katib's printer columns read
the last condition, and the run's own conditions stay last."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from controller.core.records import ExperimentRecord, TrialRecord
from controller.core.status import status_head, trial_document
from controller.errors import ControllerError
from controller.kube.api import EXPERIMENTS, Kube, KubeError
from generator.katib.models import Experiment

log = logging.getLogger("hpo-controller")
RECORDS = "trialRecords"
DIGEST = "specDigest"
PUSHED = "ResultsPushed"
# The status document's own fields, kept beside Katib's in the object's status.
_OWN = ("environment", "specDigest", "specCommit", "specDirty")


class ExperimentStatusSink:
    """The status of one Experiment object. `root`: the folder the trials' output files
    are shown relative to."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        root: Path,
        experiment: Experiment,
        environment: str,
    ):
        self.kube, self.namespace, self.name = kube, namespace, name
        self._root = root
        self._keys: set[str] = set()
        self._experiment, self._environment = experiment, environment
        self._record: ExperimentRecord | None = None
        self._trials: dict[str, tuple[TrialRecord, dict[str, Any]]] = {}
        self._pushed: dict[str, Any] | None = None
        self._writing = threading.Lock()  # the run's thread and the pushes' both write

    def results(self, state: tuple[bool, str] | None, now: str) -> bool:
        """Whether the remote has the results (`state`: pushed, what to say; None: not
        pushed anywhere), as of `now`; whether that changed what the status says."""
        if state is None:
            changed, self._pushed = self._pushed is not None, None
            return changed
        pushed, message = state
        status = "True" if pushed else "False"
        before = self._pushed
        if before is not None and (before["status"], before["message"]) == (status, message):
            return False
        since = before["lastTransitionTime"] if before and before["status"] == status else now
        self._pushed = {
            "type": PUSHED,
            "status": status,
            "reason": "Pushed" if pushed else "PushFailed",
            "message": message,
            "lastUpdateTime": now,
            "lastTransitionTime": since,
        }
        return True

    def observe(self, record: ExperimentRecord) -> None:
        """The run's record as it now stands: what the next write writes."""
        self._record = record

    @property
    def root(self) -> Path:
        return self._root

    def write(self, experiment: str, files: dict[str, str]) -> None:
        with self._writing:
            self._write()

    def _write(self) -> None:
        if self._record is None:
            return  # nothing observed yet
        status = self._from_record(self._experiment, self._record)
        patch = {key: None for key in self._keys - set(status)} | status
        try:
            self.kube.patch(EXPERIMENTS, self.namespace, self.name, {"status": patch}, sub="status")
        except KubeError as err:
            if err.is_not_found:
                return  # deleted meanwhile: its finalizer's turn
            if not err.is_temporary:
                raise ControllerError(
                    f"experiment {self.namespace}/{self.name}: its status could not be "
                    f"written: {err.detail or err}"
                ) from err
            log.warning(
                "experiment %s/%s: status not written (%s); the next write has it",
                self.namespace,
                self.name,
                err.detail or err,
            )
            return
        self._keys = set(status)

    def _from_record(self, experiment: Experiment, record: ExperimentRecord) -> dict[str, Any]:
        head = status_head(experiment, record, self._environment)
        known, documents = self._trials, []
        for trial in record.trials:
            kept = known.get(trial.name)
            if kept is None or kept[0] is not trial:  # a record is replaced when it changes
                kept = known[trial.name] = (trial, _summarized(trial_document(trial)))
            documents.append(kept[1])
        status = dict(head.get("status") or {})
        if self._pushed is not None:
            status["conditions"] = [self._pushed, *(status.get("conditions") or [])]
        status.update({key: head[key] for key in _OWN if key in head})
        status[RECORDS] = documents
        return status

    def read(self, experiment: str) -> dict[str, Any] | None:
        """The status as a status document (`controller.core.status`), None where the
        object has none of hpo-controller's."""
        body = self.kube.get(EXPERIMENTS, self.namespace, self.name)
        status = (body or {}).get("status") or {}
        if not isinstance(status, dict) or DIGEST not in status:
            return None
        self._keys = set(status)
        return document_of(status, experiment, self.namespace)


def _summarized(trial: dict[str, Any]) -> dict[str, Any]:
    """A trial's document without its metric series (the object's size is bounded)."""
    metrics = [
        {k: v for k, v in metric.items() if k != "values"} for metric in trial.get("metrics") or []
    ]
    return {**trial, "metrics": metrics}


def document_of(status: dict[str, Any], experiment: str, namespace: str) -> dict[str, Any]:
    """The object's `.status` back as a status document."""
    katib = {k: v for k, v in status.items() if k not in (*_OWN, RECORDS)}
    if isinstance(katib.get("conditions"), list):
        katib["conditions"] = [
            c for c in katib["conditions"] if not (isinstance(c, dict) and c.get("type") == PUSHED)
        ]
    return {
        "experiment": experiment,
        "namespace": namespace,
        "environment": status.get("environment") or "",
        **{key: status[key] for key in _OWN if key in status and key != "environment"},
        "status": katib,
        "trials": list(status.get(RECORDS) or []),
    }
