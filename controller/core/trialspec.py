"""A trial's concrete workload: the trial template with `${trialParameters.*}` replaced by
the trial's values, and the primary container's command line. Pure.

Unlike Katib, values are substituted into the parsed template's strings, never into its
JSON text, so a value holding quotes or backslashes cannot break the manifest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controller.errors import ControllerError
from generator.files import yamlio
from generator.katib.models import Experiment, TrialTemplate
from generator.katib.placeholders import meta_values, placeholder

# Where the replicas of a distributed trial find the master on one machine.
LOCAL_MASTER_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class Replica:
    """Another process of a distributed trial: a PyTorchJob worker, by its rank."""

    role: str
    rank: int
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    working_dir: str | None


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    working_dir: str | None
    deadline_seconds: float | None = None  # the workload's activeDeadlineSeconds
    # A distributed trial's other processes (this command is its master, rank 0); the
    # executor gives all of them MASTER_PORT.
    replicas: tuple[Replica, ...] = ()
    # The trial's whole object, substituted, made on demand: what an executor that creates
    # the workload itself (in a cluster) creates.
    manifest: Callable[[], Mapping[str, Any]] | None = field(
        default=None, compare=False, repr=False
    )
    # Where such an executor brings the trial's metrics on this machine (what it pushes or
    # writes into a file), for the collector to read: none for StdOut.
    metrics_file: str | None = None
    image: str | None = None  # the primary container's image

    def relocated(self, path: str, local: str, working_dir: bool = False) -> Command:
        """The command with a container path replaced by a local one in its arguments and
        environment (and working directory), where a pod would mount or write it; the
        same in each replica."""

        def move(text: str) -> str:
            return text.replace(path, local)

        def moved_dir(folder: str | None) -> str | None:
            return move(folder) if working_dir and folder else folder

        return replace(
            self,
            argv=tuple(move(a) for a in self.argv),
            env=tuple((k, move(v)) for k, v in self.env),
            working_dir=moved_dir(self.working_dir),
            replicas=tuple(
                replace(
                    r,
                    argv=tuple(move(a) for a in r.argv),
                    env=tuple((k, move(v)) for k, v in r.env),
                    working_dir=moved_dir(r.working_dir),
                )
                for r in self.replicas
            ),
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
    if (
        spec is not None
        and spec.get("kind") != "PyTorchJob"  # every replica's command is read
        and not any("${" in str(c.get("name", "")) for c in _containers(spec))
    ):
        primary = _primary(experiment, spec)
        read = {key: primary[key] for key in _COMMAND_FIELDS if key in primary}
        return _command(experiment, substitute(read, values), spec)
    manifest = trial_manifest(experiment, values, config_maps)
    command = _command(experiment, _primary(experiment, manifest), manifest)
    if manifest.get("kind") != "PyTorchJob":
        return command
    return _distributed(experiment, command, manifest)


def trial_workload(
    experiment: Experiment, values: Mapping[str, str], config_maps: ConfigMaps
) -> Command:
    """The trial as an executor that creates its object sees it: the whole object,
    substituted (`Command.manifest`), and no command line (the image's own, or the one
    the object gives, runs where the object runs)."""
    manifest = trial_manifest(experiment, values, config_maps)
    return Command((), (), None, manifest=lambda: manifest)


def _distributed(experiment: Experiment, master: Command, manifest: Mapping[str, Any]) -> Command:
    """A PyTorchJob trial on one machine: the master (rank 0) and each worker replica (ranks
    1..) as processes, with what PyTorch's env:// rendezvous reads (MASTER_ADDR,
    WORLD_SIZE, RANK, LOCAL_RANK; MASTER_PORT is the executor's)."""
    workers = []
    wanted = _primary(experiment, manifest).get("name")
    for role, count, pod in _replica_pods(manifest):
        if role == "Master":
            continue
        containers = [c for c in pod.get("containers") or [] if isinstance(c, dict)]
        container = next((c for c in containers if c.get("name") == wanted), None)
        if container is None:
            raise ControllerError(
                f"experiment {experiment.name!r}: the {role} replicas have no container "
                f"named {wanted!r}, as the Master has"
            )
        command = _command(experiment, container, manifest)
        workers += [(role, command)] * count
    world = 1 + len(workers)

    def ranked(env: tuple[tuple[str, str], ...], rank: int) -> tuple[tuple[str, str], ...]:
        given = {
            "MASTER_ADDR": LOCAL_MASTER_ADDRESS,
            "WORLD_SIZE": str(world),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),  # every replica on this one machine
        }
        return (*((k, v) for k, v in env if k not in given), *given.items())

    return replace(
        master,
        env=ranked(master.env, 0),
        replicas=tuple(
            Replica(role, rank, command.argv, ranked(command.env, rank), command.working_dir)
            for rank, (role, command) in enumerate(workers, start=1)
        ),
    )


# What `_command` reads of a container.
_COMMAND_FIELDS = ("name", "image", "command", "args", "env", "workingDir")


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
    body = spec.get("spec") or {}
    deadline = body.get(
        "activeDeadlineSeconds", (body.get("runPolicy") or {}).get("activeDeadlineSeconds")
    )
    return Command(
        tuple(str(a) for a in argv),
        env,
        container.get("workingDir"),
        float(deadline) if isinstance(deadline, int | float) and deadline > 0 else None,
        image=str(container["image"]) if container.get("image") else None,
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
    manifest = trial_manifest(experiment, {}, config_maps)
    container = _primary(experiment, manifest)
    # A distributed trial's every replica runs here: its demand is theirs together.
    count = sum(n for _, n, _ in _replica_pods(manifest)) or 1
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    cpu = cpu_quantity(requests.get("cpu", limits.get("cpu")))
    memory = memory_quantity(requests.get("memory", limits.get("memory")))
    return Demand(
        (DEFAULT_CPU if cpu is None else cpu) * count, (memory or 0) * count, cpu is not None
    )


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
    """The containers of the trial's primary pod: a Job's (spec.template.spec.containers),
    a PyTorchJob's Master replica's."""
    pods = _replica_pods(spec)
    master = next((pod for role, _, pod in pods if role == "Master"), None)
    if spec.get("kind") == "PyTorchJob":
        pod = master or {}
    else:
        pod = ((spec.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    return [c for c in containers if isinstance(c, dict)]


def _replica_pods(spec: Mapping[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    """A PyTorchJob's replica specs: (role, replicas, pod spec), the Master first; none for
    another kind."""
    if spec.get("kind") != "PyTorchJob":
        return []
    replicas = (spec.get("spec") or {}).get("pytorchReplicaSpecs") or {}
    found = []
    for role in sorted(replicas, key=lambda r: (r != "Master", r)):
        replica = replicas[role]
        if not isinstance(replica, dict):
            continue
        count = replica.get("replicas", 1)
        pod = (replica.get("template") or {}).get("spec") or {}
        if isinstance(count, int) and count > 0 and isinstance(pod, dict):
            found.append((str(role), count, pod))
    return found
