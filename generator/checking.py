"""`hpo-gen validate PATHS`: checks Python spec modules and Katib YAML files alike and
gathers every problem. YAML documents given together are one cluster: a ConfigMap in one
file serves an Experiment in another. With `--previous`, changes to experiments already
rendered at the base revision are checked against Katib's update rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generator.files import yamlio
from generator.files.origin import Origin, display_path
from generator.importing.yamlspecs import YamlDocument, check_documents, read_documents, read_text
from generator.katib.defaults import with_defaults
from generator.katib.identity import NAME_LABEL, object_name
from generator.katib.models import Experiment
from generator.problems import Problem, ProblemReport
from generator.project.loading import load_specs
from generator.results import read_result
from generator.validation.admission import validate_experiment
from generator.validation.context import Context, from_katib_config
from generator.validation.locating import place
from generator.validation.rules.update import DeployedStatus, check_update

YAML_SUFFIXES = (".yaml", ".yml")


class UsageProblem(Exception):
    """The paths given cannot be validated at all: the message says what is needed."""


@dataclass
class Checked:
    experiments: list[Experiment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def katib_context(path: Path) -> Context:
    """The names a katib-config file allows."""
    try:
        documents = yamlio.load_all(path.read_text(encoding="utf-8"))
    except (OSError, yamlio.YAMLError) as err:
        raise UsageProblem(f"cannot read the katib-config {path}: {err}") from err
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "KatibConfig":
            return from_katib_config(document, f"katib-config {display_path(path)}")
        data = document.get("data") if isinstance(document, dict) else None
        if isinstance(data, dict) and isinstance(data.get("katib-config.yaml"), str):
            inner = yamlio.load(data["katib-config.yaml"])
            return from_katib_config(inner, f"katib-config {display_path(path)}")
    raise UsageProblem(f"{path} holds no KatibConfig (nor a ConfigMap with katib-config.yaml)")


def check_paths(paths: Sequence[Path], context: Context) -> Checked:
    checked = Checked()
    yaml_documents: list[YamlDocument] = []
    for path in paths:
        if path.is_dir():
            if (path / "__init__.py").is_file():
                _check_python(path, None, context, checked)
            for found in sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES):
                yaml_documents += _read_yaml(found, checked)
        elif path.suffix == ".py":
            _check_python(path.parent, path, context, checked)
        elif path.suffix in YAML_SUFFIXES:
            yaml_documents += _read_yaml(path, checked)
        else:
            raise UsageProblem(
                f"{display_path(path)}: give a .py spec module, a .yaml or .yml Katib file, or "
                "a folder of them"
            )
    _whole(yaml_documents, checked)
    result = check_documents(yaml_documents, context)
    checked.experiments += result.experiments
    checked.problems += result.problems
    return checked


def _read_yaml(path: Path, checked: Checked) -> list[YamlDocument]:
    shown = display_path(path)
    text, problems = read_text(path, shown)
    if text is None:
        checked.problems += problems
        return []
    documents, problems = read_documents(text, shown)
    checked.problems += problems
    has_objects = any(isinstance(d.data, dict) and d.data.get("kind") for d in documents)
    if not problems and not has_objects:
        checked.problems.append(
            Problem(
                "no-experiment",
                (),
                f"{shown} holds no Kubernetes object",
                "give a Katib Experiment (kind: Experiment)",
                origin=Origin(shown, 1),
            )
        )
    return documents


def _whole(documents: list[YamlDocument], checked: Checked) -> None:
    """Problems of the YAML given as a whole: no Experiment among it, or two Experiments
    that would be the same Kubernetes object (the same namespace and name)."""
    experiments = [d for d in documents if d.is_experiment]
    if documents and not experiments and not checked.problems:
        files = sorted({d.file for d in documents})
        kinds = sorted({str(d.data.get("kind")) for d in documents if isinstance(d.data, dict)})
        checked.problems.append(
            Problem(
                "no-experiment",
                (),
                f"{', '.join(files)} hold{'s' if len(files) == 1 else ''} "
                f"{', '.join(kinds)} but no Katib Experiment (kind: Experiment)",
                "give a Katib Experiment; ConfigMaps and Namespaces count as the cluster "
                "it is checked against",
                origin=Origin(files[0], 1),
            )
        )
    seen: dict[tuple[str, str], YamlDocument] = {}
    for document in experiments:
        metadata = document.data.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            continue
        key = (str(metadata.get("namespace") or ""), metadata["name"])
        first = seen.setdefault(key, document)
        if first is not document:
            checked.problems.append(
                Problem(
                    "duplicate-experiment",
                    ("metadata", "name"),
                    f"another Experiment has this name and namespace "
                    f"({first.origin(('metadata', 'name'))})",
                    "give every Experiment its own name",
                    key[1],
                    document.origin(("metadata", "name")),
                )
            )


def _check_python(package: Path, module: Path | None, context: Context, checked: Checked) -> None:
    if not (package / "__init__.py").is_file():
        raise UsageProblem(
            f"{display_path(module or package)} is not in a spec package: hpo-gen imports a "
            "spec module as part of its package, a folder with an __init__.py (spec/ in a "
            "project). Add an empty __init__.py beside it, or validate the whole project "
            "with `hpo-gen validate --project DIR`"
        )
    try:
        specs = load_specs(package, None if module is None else [module])
    except ProblemReport as report:
        checked.problems += report.problems
        return
    checked.problems += specs.problems
    wanted = f"{package.resolve().name}/{module.name}" if module else None
    for experiment in specs.experiments:
        if wanted is not None and specs.modules.get(experiment.name) != wanted:
            continue
        defaulted, problems = validate_experiment(experiment, context)
        checked.experiments.append(defaulted)
        checked.problems += problems


def check_previous(experiments: Sequence[Experiment], previous: Path) -> list[Problem]:
    """Katib's update rules for each experiment already rendered under `previous` (a
    checkout of the base revision), with the status it recorded in each environment. An
    experiment rendered under its spec's hash keeps its object only for a budget change;
    any other change makes a new Experiment, and no update rule applies."""
    problems: list[Problem] = []
    for experiment in experiments:
        rendered = previous / "overlays" / "base" / experiment.name / "experiment.yaml"
        if not rendered.is_file():
            continue  # a new experiment: nothing deployed to change
        text = rendered.read_text("utf-8")
        old = with_defaults(Experiment.model_validate(yamlio.load(text, data=True)))
        if NAME_LABEL in (old.metadata.labels or {}) and old.name != object_name(experiment):
            continue  # rendered under its spec's hash: a changed spec is a new Experiment
        statuses = sorted((previous / "status").glob(f"*/{experiment.name}.yaml"))
        for status in [_deployed(path, previous) for path in statuses] or [DeployedStatus()]:
            problems += place(check_update(experiment, old, status), experiment, experiment.name)
    return problems


def _deployed(path: Path, root: Path) -> DeployedStatus:
    result = read_result(path, root)
    ended = result.state if result.state in ("Succeeded", "Failed") else None
    return DeployedStatus(result.trials, ended, result.reason if ended else None)
