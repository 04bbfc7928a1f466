"""A trial's concrete workload: the trial template with `${trialParameters.*}` replaced by
the trial's values, and the primary container's command line. Pure.

Unlike Katib, values are substituted into the parsed template's strings, never into its
JSON text, so a value holding quotes or backslashes cannot break the manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.errors import ControllerError
from generator.files import yamlio
from generator.katib.models import Experiment, TrialTemplate
from generator.katib.placeholders import meta_values, placeholder


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    working_dir: str | None
    deadline_seconds: float | None = None  # a Job's activeDeadlineSeconds

    def relocated(self, path: str, local: str, working_dir: bool = False) -> Command:
        """The command with a container path replaced by a local one in its arguments and
        environment (and working directory), where a pod would mount or write it."""

        def move(text: str) -> str:
            return text.replace(path, local)

        return Command(
            tuple(move(a) for a in self.argv),
            tuple((k, move(v)) for k, v in self.env),
            move(self.working_dir) if working_dir and self.working_dir else self.working_dir,
            self.deadline_seconds,
        )


def trial_values(
    template: TrialTemplate, assignments: Mapping[str, str], trial_name: str, namespace: str
) -> dict[str, str]:
    """trial parameter name -> value, meta references (`${trialSpec.Name}`...) included."""
    spec = template.trial_spec or {}
    metadata = spec.get("metadata") or {}
    meta = meta_values(
        trial_name,
        namespace,
        str(spec.get("kind", "")),
        str(spec.get("apiVersion", "")),
        metadata.get("labels") or {},
        metadata.get("annotations") or {},
    )
    values = {}
    for trial_parameter in template.trial_parameters or []:
        reference = trial_parameter.reference
        if reference in assignments:
            values[trial_parameter.name] = assignments[reference]
        elif reference in meta:
            values[trial_parameter.name] = meta[reference]
        else:
            raise ControllerError(
                f"trial parameter {trial_parameter.name!r} references {reference!r}, "
                "which has no value for this trial"
            )
    return values


def substitute(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        if "${" not in node:  # no placeholder: nothing to replace
            return node
        for name, value in values.items():
            node = node.replace(placeholder(name), value)
        return node
    if isinstance(node, list):
        return [substitute(item, values) for item in node]
    if isinstance(node, dict):
        return {key: substitute(item, values) for key, item in node.items()}
    return node


ConfigMaps = Mapping[tuple[str | None, str], Mapping[str, str]]


def trial_manifest(
    experiment: Experiment, values: Mapping[str, str], config_maps: ConfigMaps
) -> dict[str, Any]:
    """The trial's workload: the inline trialSpec or the ConfigMap entry, substituted.
    ConfigMap text is substituted as text, as Katib does, then parsed."""
    template = experiment.spec.trial_template
    if template is not None and template.trial_spec is not None:
        return substitute(template.trial_spec, values)  # type: ignore[no-any-return]
    source = template.config_map if template else None
    if source is None:
        raise ControllerError(f"experiment {experiment.name!r} has no trial template")
    data = config_maps.get((source.config_map_namespace, source.config_map_name or ""))
    text = (data or {}).get(source.template_path or "")
    if text is None:
        raise ControllerError(
            f"experiment {experiment.name!r}: ConfigMap {source.config_map_namespace}/"
            f"{source.config_map_name} with key {source.template_path!r} is not in the overlay"
        )
    try:
        manifest = yamlio.load(substitute(text, values))
    except yamlio.YAMLError as err:
        reason = str(getattr(err, "problem", None) or err).splitlines()[0]
        raise ControllerError(
            f"experiment {experiment.name!r}: the trial template of ConfigMap "
            f"{source.config_map_namespace}/{source.config_map_name} does not parse once the "
            f"trial's values are in it ({reason}); keep placeholders inside quoted strings"
        ) from err
    if not isinstance(manifest, dict):
        raise ControllerError(
            f"experiment {experiment.name!r}: the trial template is not a mapping"
        )
    return manifest


def _primary(experiment: Experiment, spec: Mapping[str, Any]) -> dict[str, Any]:
    template = experiment.spec.trial_template
    assert template is not None
    wanted = template.primary_container_name
    container = next((c for c in _containers(spec) if c.get("name") == wanted), None)
    if container is None:
        raise ControllerError(
            f"experiment {experiment.name!r}: no container named {wanted!r} in the trial spec"
        )
    return container


def trial_command(
    experiment: Experiment, values: Mapping[str, str], config_maps: ConfigMaps
) -> Command:
    """The primary container's command line of the trial whose trial parameters have
    `values`: that of `trial_manifest`. An inline template is substituted in the primary
    container alone, the only part the command reads (unless a container's name holds a
    placeholder, which could change which container is primary); a ConfigMap's text is
    substituted whole and parsed, as Katib does."""
    template = experiment.spec.trial_template
    spec = template.trial_spec if template is not None else None
    if spec is not None and not any("${" in str(c.get("name", "")) for c in _containers(spec)):
        primary = _primary(experiment, spec)
        read = {key: primary[key] for key in _COMMAND_FIELDS if key in primary}
        return _command(experiment, substitute(read, values), spec)
    manifest = trial_manifest(experiment, values, config_maps)
    return _command(experiment, _primary(experiment, manifest), manifest)


# What `_command` reads of a container.
_COMMAND_FIELDS = ("name", "command", "args", "env", "workingDir")


def _command(
    experiment: Experiment, container: Mapping[str, Any], spec: Mapping[str, Any]
) -> Command:
    """The container's command and args, env and working dir, with the Job's deadline."""
    wanted = container.get("name")
    argv = [*container.get("command", []), *container.get("args", [])]
    if not argv:
        raise ControllerError(
            f"experiment {experiment.name!r}: container {wanted!r} has no command; "
            "local trials cannot read an image's entrypoint"
        )
    env = tuple(
        (str(item["name"]), str(item.get("value", "")))
        for item in container.get("env", [])
        if "name" in item
    )
    deadline = (spec.get("spec") or {}).get("activeDeadlineSeconds")
    return Command(
        tuple(str(a) for a in argv),
        env,
        container.get("workingDir"),
        float(deadline) if isinstance(deadline, int | float) and deadline > 0 else None,
    )


@dataclass(frozen=True)
class Demand:
    """What one trial asks of a machine: its primary container's requests (or limits,
    which Kubernetes takes as requests when no request is given)."""

    cpu: float  # cores; a trial that names none counts as one
    memory: int  # bytes; 0 when it names none
    cpu_named: bool = True

    def describe(self) -> str:
        cpu = f"{self.cpu:g} core{'s' if self.cpu != 1 else ''}"
        text = cpu if self.cpu_named else f"{cpu} (it requests none)"
        return text + (f" and {self.memory / 2**30:.3g} GiB" if self.memory else "")


DEFAULT_CPU = 1.0
_MEMORY_UNITS = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip


def trial_demand(experiment: Experiment, config_maps: ConfigMaps) -> Demand:
    """The demand of the experiment's trials, read from the template before substitution
    (a quantity that is a trial parameter counts as not given)."""
    container = _primary(experiment, trial_manifest(experiment, {}, config_maps))
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    cpu = cpu_quantity(requests.get("cpu", limits.get("cpu")))
    memory = memory_quantity(requests.get("memory", limits.get("memory")))
    return Demand(DEFAULT_CPU if cpu is None else cpu, memory or 0, cpu is not None)


def cpu_quantity(value: object) -> float | None:
    """A Kubernetes CPU quantity in cores ("500m", "1", 2), or None."""
    text = str(value).strip() if value is not None else ""
    try:
        cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None
    return cores if cores > 0 and cores == cores else None


def memory_quantity(value: object) -> int | None:
    """A Kubernetes memory quantity in bytes ("1Gi", "512M", "1e9", 1024), or None."""
    text = str(value).strip() if value is not None else ""
    for suffix in sorted(_MEMORY_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            number, scale = text[: -len(suffix)], _MEMORY_UNITS[suffix]
            break
    else:
        number, scale = text, 1
    try:
        amount = float(number) * scale
    except ValueError:
        return None
    return int(amount) if amount > 0 else None


def _containers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The containers of a Job-shaped spec (spec.template.spec.containers)."""
    pod = ((spec.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    return [c for c in containers if isinstance(c, dict)]
