"""`hpo-gen diff --base REF`: what a change to `spec/` does to each environment, as a
reviewer needs it in a pull request: experiments added, removed, recreated (and the field
that forced it), budgets changed; warnings where a change discards a running experiment's
history or sends an experiment to a cluster.

Both sides are built the way Argo CD builds them: the base is REF's committed `overlays/`
(read from git, never its code run), the head is `spec/` rendered now; every environment
folder of each is built with kustomize and its Experiments compared by their own name."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from generator.files import kustomize
from generator.files.escaping import markdown_text
from generator.katib.identity import BUDGET_FIELDS, experiment_name
from generator.katib.repository import NOT_ENVIRONMENTS, OVERLAYS_FOLDER
from generator.problems import ProblemReport
from generator.rendering import CONTROLLER_CONFIG, RenderedTree
from generator.rendering.common import json_patch
from generator.results import read_results

# env -> experiment's own name -> the Experiment as built.
Built = dict[str, dict[str, dict[str, Any]]]


class DiffError(Exception):
    """The base cannot be read or built: the message says why and what to do."""


@dataclass
class Change:
    environment: str
    experiment: str
    kind: str  # added, removed, recreated, budget
    fields: list[str] = field(default_factory=list)  # what forced a recreation
    budgets: dict[str, list[Any]] = field(default_factory=dict)  # field -> [before, after]
    names: list[str] = field(default_factory=list)  # the object names, before and after
    warning: str | None = None


@dataclass
class Summary:
    base: str
    changes: list[Change]

    @property
    def environments(self) -> list[str]:
        return sorted({c.environment for c in self.changes})

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "environments": self.environments,
            "changes": [asdict(c) for c in self.changes],
            "warnings": [c.warning for c in self.changes if c.warning],
        }


def base_overlays(root: Path, ref: str, into: Path) -> Path:
    """REF's committed overlays/, unpacked under `into` (empty when REF had none)."""
    found = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise DiffError(
            f"no commit {ref!r} in {root}: give a branch, tag or commit, e.g. origin/main"
        )
    listed = subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "archive",
            "--format=tar",
            found.stdout.strip(),
            "--",
            OVERLAYS_FOLDER,
        ],
        capture_output=True,
        check=False,
    )
    target = into / OVERLAYS_FOLDER
    target.mkdir(parents=True)
    if listed.returncode != 0:
        return target  # REF has no overlays/: everything at head is new
    with tarfile.open(fileobj=io.BytesIO(listed.stdout)) as archive:
        archive.extractall(into, filter="data")  # no links out, no absolute paths
    return target


def built(overlays: Path) -> tuple[Built, dict[str, str]]:
    """Each environment's Experiments, by their own name, and how it executes, from one
    kustomize build of its folder."""
    result: Built = {}
    executors: dict[str, str] = {}
    if not overlays.is_dir():
        return result, executors
    for folder in sorted(overlays.iterdir()):
        if folder.name in NOT_ENVIRONMENTS or not (folder / "kustomization.yaml").is_file():
            continue
        try:
            documents = kustomize.build(folder)
        except kustomize.KustomizeError as err:
            raise DiffError(str(err)) from err
        experiments = {}
        executors[folder.name] = "katib"  # an overlay without the controller's settings
        for doc in documents:
            metadata = doc.get("metadata")
            if not isinstance(metadata, dict):
                continue
            name = str(metadata.get("name", ""))
            if doc.get("kind") == "Experiment":
                experiments[experiment_name(metadata.get("labels"), name)] = doc
            elif doc.get("kind") == "ConfigMap" and name == CONTROLLER_CONFIG:
                data = doc.get("data")
                if isinstance(data, dict):
                    executors[folder.name] = str(data.get("executor", "local"))
        result[folder.name] = experiments
    return result, executors


def summarize(root: Path, ref: str, head: RenderedTree) -> Summary:
    with tempfile.TemporaryDirectory(prefix="hpo-gen-diff-") as scratch:
        before, _ = built(base_overlays(root, ref, Path(scratch) / "base"))
        now = Path(scratch) / "head" / OVERLAYS_FOLDER
        for name, text in head.items():
            (now / name).parent.mkdir(parents=True, exist_ok=True)
            (now / name).write_text(text, encoding="utf-8")
        after, executors = built(now)
    return Summary(ref, compare(before, after, executors, _running(root)))


def _running(root: Path) -> set[tuple[str, str]]:
    """(env, experiment) of the runs the status files say are unfinished."""
    try:
        return {(r.environment, r.name) for r in read_results(root) if r.state == "Running"}
    except ProblemReport:
        return set()  # an unreadable status file: `hpo-gen status` says why


def compare(
    before: Built, after: Built, executors: dict[str, str], running: set[tuple[str, str]]
) -> list[Change]:
    changes = []
    for env in sorted(set(before) | set(after)):
        old, new = before.get(env, {}), after.get(env, {})
        in_cluster = executors.get(env, "local") != "local"
        for name in sorted(set(old) | set(new)):
            was, now = old.get(name), new.get(name)
            live = (env, name) in running
            if was is None and now is not None:
                warning = f"{name!r} now runs in {env!r}, in a cluster" if in_cluster else None
                changes.append(Change(env, name, "added", warning=warning))
            elif was is not None and now is None:
                warning = (
                    f"{name!r} is running in {env!r}: removing it discards its history"
                    if live
                    else None
                )
                changes.append(Change(env, name, "removed", names=[_name(was)], warning=warning))
            elif was is not None and now is not None:
                changes += _changed(env, name, was, now, live)
    return changes


def _paths(old: dict[str, Any], new: dict[str, Any], most: int = 4) -> list[str]:
    """The deepest fields that differ, as dotted paths (`spec.objective.goal`)."""
    found = []
    for op in json_patch(old, new, ("spec",)):
        dotted = ""
        for part in op["path"].lstrip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            dotted += f"[{part}]" if part.isdigit() else f".{part}" if dotted else part
        found.append(dotted)
    return found[:most] + ([f"and {len(found) - most} more"] if len(found) > most else [])


def _name(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["name"])


def _changed(
    env: str, name: str, was: dict[str, Any], now: dict[str, Any], live: bool
) -> list[Change]:
    old_spec, new_spec = was.get("spec") or {}, now.get("spec") or {}
    budgets = {
        key: [old_spec.get(key), new_spec.get(key)]
        for key in BUDGET_FIELDS
        if old_spec.get(key) != new_spec.get(key)
    }
    forced = _paths(
        {k: v for k, v in old_spec.items() if k not in BUDGET_FIELDS},
        {k: v for k, v in new_spec.items() if k not in BUDGET_FIELDS},
    )
    names = [_name(was), _name(now)]
    if forced or names[0] != names[1]:
        warning = (
            f"{name!r} is running in {env!r}: recreating it as {names[1]} discards its history"
            if live
            else None
        )
        fields = forced or ["the name's hash"]
        return [
            Change(
                env, name, "recreated", fields=fields, budgets=budgets, names=names, warning=warning
            )
        ]
    if budgets:
        return [Change(env, name, "budget", budgets=budgets, names=names)]
    return []


def markdown(summary: Summary) -> str:
    """The summary as a pull-request comment."""
    lines = [f"### hpo-gen: what this change does (against {markdown_text(summary.base)})", ""]
    if not summary.changes:
        return "\n".join([*lines, "No experiment changes in any environment.", ""])
    warnings = [c.warning for c in summary.changes if c.warning]
    if warnings:
        lines += [f"> **Warning:** {w}" for w in warnings] + [""]
    lines += [f"Environments affected: {', '.join(f'`{e}`' for e in summary.environments)}", ""]
    lines += ["| environment | experiment | change | details |", "| --- | --- | --- | --- |"]
    for change in summary.changes:
        where = f"`{change.environment}` | `{change.experiment}`"
        lines.append(f"| {where} | {change.kind} | {_details(change)} |")
    return "\n".join([*lines, ""])


def _details(change: Change) -> str:
    parts = []
    if change.kind == "recreated":
        parts.append(
            f"new Experiment `{change.names[1]}` replaces `{change.names[0]}`: "
            f"{', '.join(f'`{f}`' for f in change.fields)} changed (Katib updates only budgets)"
        )
    if change.kind == "removed":
        parts.append(f"`{change.names[0]}` leaves the overlay (Argo CD asks before pruning it)")
    for key, (old, new) in change.budgets.items():
        parts.append(f"`{key}` {old} → {new}")
    return "; ".join(parts) or "—"
