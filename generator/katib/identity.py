"""An Experiment's identity in a cluster. Katib's webhook lets an Experiment's spec change
only in its three budget fields, so the object name carries a short hash of the rest: a
change to the search, the objective or the trial is a new Experiment under a new name
(kustomize's configMapGenerator does the same for ConfigMaps), a budget change the same
object patched in place. The name in `spec/` stays the experiment's own name: a label on
the object, the name of its status file, the name every command takes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from generator.katib.models import Experiment

# Katib's limits on an Experiment's name: its suggestion Service is '<name>-<algorithm>'
# (a DNS label); pbt's trial names add 37 characters and must fit in a label value.
MAX_NAME_LENGTH = 40
PBT_MAX_NAME_LENGTH = 26
BUDGET_FIELDS = ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount")
HASH_LENGTH = 6  # hex digits of the name's hash: 16.7 million per experiment name
# The label that names the experiment an object is, whatever its hashed name.
NAME_LABEL = "hpo-gen.io/experiment"


def immutable_digest(experiment: Experiment) -> str:
    """A fingerprint of the spec but its trial budget, the part Katib never updates."""
    return spec_digest(experiment.spec.to_wire())


def spec_digest(spec: Mapping[str, Any]) -> str:
    """immutable_digest of an Experiment's spec as it is on the wire."""
    kept = {k: v for k, v in spec.items() if k not in BUDGET_FIELDS}
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def name_limit(experiment: Experiment) -> int:
    return _limit(experiment.spec.to_wire())


def _limit(spec: Mapping[str, Any]) -> int:
    algorithm = spec.get("algorithm")
    pbt = isinstance(algorithm, dict) and algorithm.get("algorithmName") == "pbt"
    return PBT_MAX_NAME_LENGTH if pbt else MAX_NAME_LENGTH


def object_name(experiment: Experiment) -> str:
    """The name the Experiment takes in a cluster: its own name, cut where needed so that
    '-' and the hash fit in Katib's limit, then the hash of its immutable spec."""
    return wire_object_name(experiment.name, experiment.spec.to_wire())


def wire_object_name(name: str, spec: Mapping[str, Any]) -> str:
    """object_name, of an experiment's own name and its spec on the wire."""
    short = spec_digest(spec).removeprefix("sha256:")[:HASH_LENGTH]
    room = _limit(spec) - HASH_LENGTH - 1
    return f"{name[:room].rstrip('-')}-{short}"


def experiment_name(labels: dict[str, str] | None, object_name: str) -> str:
    """The experiment an object in a rendered overlay is (its label), else its name."""
    return (labels or {}).get(NAME_LABEL, object_name)
