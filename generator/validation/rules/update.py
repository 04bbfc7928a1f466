"""Katib's rules for changing a deployed Experiment (the validating webhook on UPDATE):
only the trial budget may change, a finished experiment restarts only if its resume
policy allows, and a new maxTrialCount must exceed the trials already run. hpo-gen checks
them before merge, against the previously rendered Experiment and its recorded status."""

from __future__ import annotations

from dataclasses import dataclass

from generator.katib.identity import BUDGET_FIELDS
from generator.katib.models import Experiment
from generator.problems import Problem

RESTARTABLE_POLICIES = ("LongRunning", "FromVolume")
MAX_TRIALS_REACHED = "ExperimentMaxTrialsReached"


@dataclass(frozen=True)
class DeployedStatus:
    """What the running experiment reports: its trial count and how it ended, if it did."""

    trials: int = 0
    condition: str | None = None  # "Succeeded", "Failed" or None while running
    reason: str | None = None


def check_update(new: Experiment, old: Experiment, status: DeployedStatus) -> list[Problem]:
    """Problems with replacing the deployed `old` by `new` (both carrying Katib's defaults)."""
    new_spec, old_spec = new.spec.to_wire(), old.spec.to_wire()
    if new_spec == old_spec:
        return []
    problems = []
    completed = status.condition in ("Succeeded", "Failed")
    restartable = (
        status.condition == "Succeeded"
        and status.reason == MAX_TRIALS_REACHED
        and old.spec.resume_policy in RESTARTABLE_POLICIES
    )
    if completed and not restartable:
        problems.append(
            Problem(
                "update-restart",
                ("spec", "resumePolicy"),
                f"the deployed experiment has ended ({status.condition}, {status.reason}) and "
                f"its resumePolicy {old.spec.resume_policy!r} does not let it restart",
                "leave the finished experiment as it is and give the changed one a new name",
            )
        )
    limit = new.spec.max_trial_count
    if limit is not None and limit <= status.trials:
        problems.append(
            Problem(
                "update-budget",
                ("spec", "maxTrialCount"),
                f"must be greater than the {status.trials} trials the experiment has run, "
                f"got {limit}",
                f"raise max_trial_count above {status.trials}",
            )
        )
    changed = sorted(
        key
        for key in set(new_spec) | set(old_spec)
        if key not in BUDGET_FIELDS and new_spec.get(key) != old_spec.get(key)
    )
    if changed:
        problems.append(
            Problem(
                "update-forbidden",
                ("spec",),
                "only spec.parallelTrialCount, spec.maxTrialCount and spec.maxFailedTrialCount "
                f"can change in a deployed Experiment; this changes spec.{', spec.'.join(changed)}",
                "give the changed experiment a new name (the old one keeps its trials)",
            )
        )
    return problems
