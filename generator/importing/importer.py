"""`hpo-gen import`: writes an idiomatic Python spec module for each Katib Experiment in
YAML, using the spec language's builders, so that rendering the module gives back the
Experiment (with Katib's defaults). Every module is executed and compared with its source
before anything is written."""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import generator
from generator.files import atomicfile
from generator.files.origin import Origin, display_path
from generator.importing import pycode
from generator.importing.pycode import Call, Code, call
from generator.importing.yamlspecs import check_documents, read_documents, read_text
from generator.katib.algorithms import ALGORITHMS, EARLY_STOPPING
from generator.katib.defaults import with_defaults
from generator.katib.models import (
    AlgorithmSpec,
    EarlyStoppingSpec,
    Experiment,
    MetricsCollectorSpec,
    NasConfig,
    ObjectiveSpec,
    ParameterSpec,
    TrialParameterSpec,
    TrialTemplate,
)
from generator.katib.placeholders import TRIAL_API_VERSION, TRIAL_KIND, TRIAL_NAME, TRIAL_NAMESPACE
from generator.language.space import wire_number
from generator.problems import FieldPath, Problem, ProblemReport, format_path
from generator.validation.context import Context

_META = {
    TRIAL_NAME: "TRIAL_NAME",
    TRIAL_NAMESPACE: "TRIAL_NAMESPACE",
    TRIAL_KIND: "TRIAL_KIND",
    TRIAL_API_VERSION: "TRIAL_API_VERSION",
}
# Problems that keep a document from being imported at all: its shape, and the names that
# become file names and Python (the rest are the spec's to fix after the import).
_BLOCKING = frozenset(
    {"schema", "unknown-field", "invalid-value", "name", "name-length", "namespace"}
)


class UnimportableError(ValueError):
    """The Experiment uses something the spec language cannot spell (an unknown parameter
    or objective type); fix the YAML first."""


class _Module:
    """The pieces of one generated module: imports and top-level assignments."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.assignments: list[tuple[str, Any]] = []

    def use(self, name: str) -> str:
        self.names.add(name)
        return name

    def call(self, function: str, *args: Any, **kwargs: Any) -> Call:
        """A call of a builder; UnimportableError where the Experiment lacks a value the
        builder requires (a field Katib requires too, left out of the YAML)."""
        self.use(function)
        written = call(function, *args, **kwargs)
        _check_required(function, written)
        return written


def _check_required(function: str, written: Call) -> None:
    import generator  # the builders, read for their signatures

    builder = getattr(generator, function, None)
    if builder is None or not callable(builder):
        return
    try:
        signature = inspect.signature(builder)
    except (TypeError, ValueError):
        return
    missing = [
        name
        for index, (name, parameter) in enumerate(signature.parameters.items())
        if parameter.default is inspect.Parameter.empty
        and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        and (
            written.args[index] is None
            if index < len(written.args) and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
            else name not in dict(written.kwargs)
        )
    ]
    if missing:
        raise UnimportableError(
            f"it lacks what {function}() needs ({', '.join(missing)}): a field Katib "
            "requires is missing or empty"
        )


# Every name the spec language exports: a generated module binds none of them.
BUILDER_NAMES = frozenset(generator.__all__)


def module_source(experiment: Experiment, source: str) -> str:
    """The Python spec module for `experiment` (as parsed, before defaults)."""
    module = _Module()
    spec = experiment.spec
    for field, value in (
        ("objective", spec.objective),
        ("algorithm", spec.algorithm),
        ("trialTemplate", spec.trial_template),
    ):
        if value is None:
            raise UnimportableError(f"it has no {field}, which Katib requires")
    assert spec.trial_template is not None
    if spec.trial_template.trial_parameters is None:
        raise UnimportableError(
            "its trialTemplate has no trialParameters, which Katib requires (an empty list "
            "is enough)"
        )
    variable = pycode.identifier(experiment.name)
    names = [p.name for p in spec.parameters or []]
    derived, explicit = _trial_parameters(spec.parameters or [], spec.trial_template)
    if spec.parameters:
        module.assignments.append(("space", _space(module, spec.parameters, derived)))
    template = spec.trial_template
    if template is not None and template.trial_spec is not None:
        module.assignments.append(("TRIAL_SPEC", template.trial_spec))
    arguments: dict[str, Any] = {
        "namespace": experiment.metadata.namespace,
        "labels": experiment.metadata.labels,
        "annotations": experiment.metadata.annotations,
        "objective": _objective(module, spec.objective),
        "algorithm": _algorithm(module, spec.algorithm),
        "early_stopping": _early_stopping(module, spec.early_stopping),
        # an empty list stays one: Katib tells `parameters: []` from none at all
        "parameters": Code("space") if names else _empty_space(module, spec.parameters),
        "nas_config": _nas(module, spec.nas_config),
        "max_trial_count": spec.max_trial_count,
        "parallel_trial_count": spec.parallel_trial_count,
        "max_failed_trial_count": spec.max_failed_trial_count,
        "resume_policy": spec.resume_policy,
        "metrics_collector": _collector(module, spec.metrics_collector_spec),
        "trial_parameters": (
            [_trial_parameter(module, t) for t in explicit] if explicit is not None else None
        ),
        "trial": _template(module, template, explicit is None, len(derived)),
    }
    taken = {*module.names, *(name for name, _ in module.assignments), *BUILDER_NAMES}
    if variable in taken:  # never bind it to a builder's name (or another name here)
        variable = f"{variable}_experiment"
    module.assignments.append((variable, module.call("experiment", experiment.name, **arguments)))
    header = pycode.docstring(
        f"Katib Experiment {experiment.name}, imported by `hpo-gen import` from {source}."
    )
    body = "".join(
        f"\n{name} = {pycode.render(value, 0, len(name) + 3)}\n"
        for name, value in module.assignments
    )
    code = header + "\n\n" + pycode.imports("generator", sorted(module.names)) + body
    if any(len(line) > pycode.LINE_WIDTH and " " in line.strip() for line in code.splitlines()):
        # A word longer than a line (a shell one-liner, say) cannot be wrapped.
        code = code.replace("\n\n", "\n\n# ruff: noqa: E501\n", 1)
    return code


def _empty_space(module: _Module, parameters: Sequence[ParameterSpec] | None) -> Call | None:
    return None if parameters is None else module.call("SearchSpace")


def _trial_parameters(
    parameters: Sequence[ParameterSpec], template: TrialTemplate | None
) -> tuple[dict[str, TrialParameterSpec], list[TrialParameterSpec] | None]:
    """Trial parameters the search space can derive (parameter name -> spec) and, when
    the template's list is not in the derived order, the whole list to spell by hand."""
    listed = list(template.trial_parameters or []) if template else []
    head = listed[: len(parameters)]
    if template is None or template.trial_parameters is None:
        return {}, []
    if len(head) == len(parameters) and all(
        t.reference == p.name for t, p in zip(head, parameters, strict=True)
    ):
        return {p.name: t for p, t in zip(parameters, head, strict=True)}, None
    return {}, listed


def _number(text: str | None, kind: str) -> Any:
    """A bound as a number when it spells back the same, else the text as written."""
    if text is None:
        return None
    try:
        value: int | float = int(text) if kind == "int" else float(text)
    except ValueError:
        return text
    return value if wire_number(value) == text else text


def _values(values: Sequence[str]) -> list[Any]:
    numbers = [_number(v, "int") for v in values]
    return numbers if all(isinstance(n, int) for n in numbers) else list(values)


def _tunable(module: _Module, parameter: ParameterSpec, trial: TrialParameterSpec | None) -> Call:
    space = parameter.feasible_space
    kind = parameter.parameter_type
    extra: dict[str, Any] = {}
    if trial is not None:
        if trial.name != parameter.name:
            extra["trial_parameter"] = trial.name
        extra["description"] = trial.description
    if kind in ("int", "double"):
        if space.list_ is not None:
            raise UnimportableError(f"parameter {parameter.name!r}: a {kind} with a list")
        if space.min is None or space.max is None:
            raise UnimportableError(
                f"parameter {parameter.name!r}: a {kind} needs both min and max in its "
                "feasibleSpace"
            )
        function = "integer" if kind == "int" else "double"
        return module.call(
            function,
            _number(space.min, kind),
            _number(space.max, kind),
            step=_number(space.step, kind),
            distribution=space.distribution,
            **extra,
        )
    if kind in ("categorical", "discrete"):
        if space.min is not None or space.max is not None or space.step is not None:
            raise UnimportableError(f"parameter {parameter.name!r}: a {kind} with min/max/step")
        if space.distribution is not None:
            raise UnimportableError(f"parameter {parameter.name!r}: a {kind} with a distribution")
        return module.call(kind, _values(space.list_ or []), **extra)
    raise UnimportableError(f"parameter {parameter.name!r} has the unknown type {kind!r}")


def _space(
    module: _Module, parameters: Sequence[ParameterSpec], trials: dict[str, TrialParameterSpec]
) -> Call:
    tunables = {p.name: _tunable(module, p, trials.get(p.name)) for p in parameters}
    if len(set(tunables)) != len(parameters):
        raise UnimportableError("two parameters share a name")
    if all(pycode.is_identifier(name) for name in tunables):
        return module.call("SearchSpace", **tunables)
    return module.call("SearchSpace", tunables)


def _objective(module: _Module, objective: ObjectiveSpec | None) -> Call | None:
    if objective is None:
        return None
    if objective.type not in ("maximize", "minimize"):
        raise UnimportableError(
            f"objective type {objective.type!r} is neither maximize nor minimize"
        )
    strategies = (
        {s.name: s.value for s in objective.metric_strategies}
        if objective.metric_strategies is not None
        else None
    )
    return module.call(
        objective.type,
        objective.objective_metric_name,
        goal=objective.goal,
        additional_metrics=objective.additional_metric_names,
        metric_strategies=strategies,
    )


def _setting(value: str) -> Any:
    for kind in ("int", "double"):
        number = _number(value, kind)
        if not isinstance(number, str):
            return number
    return value


def _algorithm(module: _Module, spec: AlgorithmSpec | None) -> Call | None:
    """The catalogue's typed builder where it spells the same settings in the same order
    (Katib's names are its keywords, lower-cased: `n_EI_candidates` is `n_ei_candidates`);
    `algorithm(NAME, ...)` otherwise."""
    if spec is None:
        return None
    settings = {s.name: _setting(s.value) for s in spec.algorithm_settings or []}
    info = ALGORITHMS.get(spec.algorithm_name)
    if info is not None and info.builder and len(settings) == len(spec.algorithm_settings or []):
        keywords = {name.lower(): value for name, value in settings.items()}
        if _spells(info.builder, keywords, spec):
            return module.call(info.builder, **keywords)
    return module.call("algorithm", spec.algorithm_name, **settings)


def _spells(
    builder: str, keywords: dict[str, Any], spec: AlgorithmSpec | EarlyStoppingSpec
) -> bool:
    """Whether the typed builder, given these keywords, writes `spec` exactly."""
    import generator

    try:
        built = getattr(generator, builder)(**keywords)
    except (TypeError, ValueError):  # a keyword it does not take, a value it refuses
        return False
    return isinstance(built, type(spec)) and built.to_wire() == spec.to_wire()


def _early_stopping(module: _Module, spec: EarlyStoppingSpec | None) -> Call | None:
    if spec is None:
        return None
    settings = {s.name: _setting(s.value) for s in spec.algorithm_settings or []}
    info = EARLY_STOPPING.get(spec.algorithm_name)
    if info is not None and info.builder and len(settings) == len(spec.algorithm_settings or []):
        keywords = {name.lower(): value for name, value in settings.items()}
        if _spells(info.builder, keywords, spec):
            return module.call(info.builder, **keywords)
    return module.call("early_stopping", spec.algorithm_name, **settings)


def _collector(module: _Module, spec: MetricsCollectorSpec | None) -> Call | None:
    if spec is None:
        return None
    # Katib's defaults give a collector-less spec the StdOut collector.
    kind = spec.collector.kind if spec.collector else "StdOut"
    source = spec.source
    path = source.file_system_path if source else None
    formats = source.filter.metrics_format if source and source.filter else None
    has_filter = source is not None and source.filter is not None
    http_get = source.http_get if source else None
    custom = spec.collector.custom_collector if spec.collector else None
    where = (path.path, path.kind, path.format) if path else (None, None, None)
    plain = http_get is None and custom is None
    if kind == "StdOut" and plain and path is None and (formats or not has_filter):
        return module.call("stdout_collector", formats)
    if kind == "Push" and source is None and custom is None:
        return module.call("push_collector")
    file_path = where[:2] == (None, None) or (where[0] is not None and where[1] == "File")
    if kind == "File" and plain and (formats or not has_filter) and file_path:
        return module.call("file_collector", where[0], file_format=where[2], metrics_format=formats)
    directory = where[:2] == (None, None) or (where[0] is not None and where[1] == "Directory")
    if kind == "TensorFlowEvent" and plain and not has_filter and where[2] is None and directory:
        return module.call("tensorflow_event_collector", where[0])
    if (
        kind == "Custom"
        and custom is not None
        and http_get is None
        and not has_filter
        and (where[2] is None)
    ):
        return module.call("custom_collector", custom, path=where[0], path_kind=where[1])
    return module.call(
        "metrics_collector",
        kind,
        path=where[0],
        path_kind=where[1],
        file_format=where[2],
        metrics_format=formats,
        http_get=http_get,
        custom_collector=custom,
    )


def _nas(module: _Module, spec: NasConfig | None) -> Call | None:
    if spec is None:
        return None
    operations = []
    for operation in spec.operations or []:
        parameters = operation.parameters or []
        space = _space(module, parameters, {}) if parameters else None
        args = (
            (operation.operation_type, space) if space is not None else (operation.operation_type,)
        )
        operations.append(module.call("operation", *args))
    graph = spec.graph_config
    return module.call(
        "nas_config",
        operations=operations,
        num_layers=graph.num_layers if graph else None,
        input_sizes=graph.input_sizes if graph else None,
        output_sizes=graph.output_sizes if graph else None,
    )


def _trial_parameter(module: _Module, spec: TrialParameterSpec) -> Call:
    reference: Any = spec.reference
    if reference in _META:
        reference = Code(module.use(_META[reference]))
    return module.call("trial_parameter", spec.name, reference, spec.description)


def _template(
    module: _Module, template: TrialTemplate | None, derived: bool, count: int
) -> Call | None:
    if template is None:
        return None
    extra = list(template.trial_parameters or [])[count:] if derived else []
    source = None
    if template.config_map is not None:
        cm = template.config_map
        source = module.call(
            "config_map_source",
            cm.config_map_name,
            namespace=cm.config_map_namespace,
            template_path=cm.template_path,
        )
    spec_argument = (Code("TRIAL_SPEC"),) if template.trial_spec is not None else ()
    return module.call(
        "trial_template",
        *spec_argument,
        config_map=source,
        primary_container_name=template.primary_container_name,
        primary_pod_labels=template.primary_pod_labels,
        success_condition=template.success_condition,
        failure_condition=template.failure_condition,
        retain=template.retain,
        extra_trial_parameters=[_trial_parameter(module, t) for t in extra] or None,
    )


def check_round_trip(source: str, original: Experiment, filename: str) -> None:
    """Build the generated module from its parsed tree (never running it: `pycode.evaluate`
    runs nothing but the builders it imports) and insist that it builds `original` (with
    defaults)."""
    import generator  # the builders the module may call, and nothing else

    builders = {name: getattr(generator, name) for name in generator.__all__}
    try:
        built = [
            v
            for v in pycode.evaluate(source, builders, filename).values()
            if isinstance(v, Experiment)
        ]
    except pycode.UnsafeCode as err:
        raise AssertionError(
            f"hpo-gen import wrote a module for {original.name!r} that holds code it does not "
            f"write ({err}); please report this as a bug"
        ) from err
    expected = with_defaults(original).to_wire()
    rebuilt = with_defaults(built[0]).to_wire() if len(built) == 1 else None
    if rebuilt is not None and rebuilt != expected:
        differences = list(_differences(expected, rebuilt, ()))
        if all(_empty_or_absent(a, b) for _, a, b in differences):
            fields = ", ".join(format_path(path) for path, _, _ in differences)
            raise UnimportableError(
                f"it leaves fields empty or out ({fields}) where the spec language tells "
                "no difference between the two: fill them in (Katib requires most), or "
                "remove the empty ones"
            )
    if rebuilt != expected:
        raise AssertionError(
            f"hpo-gen import wrote a module for {original.name!r} that does not rebuild it; "
            "please report this as a bug"
        )


@dataclass(frozen=True)
class ImportedModule:
    experiment: str
    source: str  # the YAML file, as shown
    code: str
    namespace: str | None = None  # the Experiment's own, which an environment replaces


def _differences(a: Any, b: Any, path: FieldPath) -> Iterator[tuple[FieldPath, Any, Any]]:
    """Where two wire documents differ: (path, value in a, value in b)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            yield from _differences(a.get(key), b.get(key), (*path, key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _differences(x, y, (*path, index))
    elif a != b:
        yield path, a, b


def _empty_or_absent(a: Any, b: Any) -> bool:
    """One side an empty list or mapping, the other absent."""
    empty = [isinstance(v, dict | list) and not v for v in (a, b)]
    return (empty[0] and b is None) or (empty[1] and a is None)


def import_text(text: str, source: str) -> tuple[dict[str, ImportedModule], list[Problem]]:
    """module file name -> module for every Experiment in a YAML text, and the problems
    that keep documents from being imported (invalid YAML, a shape Katib would refuse,
    names that clash, no Experiment at all)."""
    documents, problems = read_documents(text, source)
    modules: dict[str, ImportedModule] = {}
    experiments = [d for d in documents if d.is_experiment]
    if not problems and not experiments:
        kinds = sorted({str(d.data.get("kind")) for d in documents if isinstance(d.data, dict)})
        found = f"only {', '.join(kinds)}" if kinds else "no Kubernetes object"
        problems.append(
            Problem(
                "no-experiment",
                (),
                f"{source} holds {found}, no Katib Experiment (kind: Experiment)",
                "import a file that holds a kubeflow.org/v1beta1 Experiment",
                origin=Origin(source, 1),
            )
        )
    for document in experiments:
        shape = check_documents([document], Context()).problems
        blocking = [p for p in shape if p.code in _BLOCKING]
        if blocking:  # check_documents ran the schema and the model parse already
            problems += blocking
            continue
        experiment = Experiment.model_validate(document.data)
        module = f"{pycode.identifier(experiment.name)}.py"
        if module in modules:
            first = modules[module].experiment
            problems.append(_clash(module, first, experiment.name, document.origin(())))
            continue
        try:
            code = module_source(experiment, source)
            check_round_trip(code, experiment, source)
        except UnimportableError as err:
            problems.append(
                Problem(
                    "import",
                    (),
                    str(err),
                    "fix the Experiment, then import it again",
                    experiment.name,
                    document.origin(()),
                )
            )
            continue
        namespace = experiment.metadata.namespace
        modules[module] = ImportedModule(experiment.name, source, code, namespace)
    return modules, problems


SPEC_PACKAGE_DOC = '"""Experiments and environments, one module each; see `hpo-gen render`."""\n'


@dataclass(frozen=True)
class Imported:
    """What `import_files` wrote, and what the user is to know of it."""

    written: list[str]
    notes: list[str]


def import_files(files: Sequence[Path], out: Path, *, force: bool = False) -> Imported:
    """Write the spec modules for every Experiment in `files` into `out`, all or none."""
    modules: dict[str, ImportedModule] = {}  # module file name -> module
    problems: list[Problem] = []
    for path in files:
        shown = display_path(path)
        text, trouble = read_text(path, shown)
        if text is not None:
            found, trouble = import_text(text, shown)
            for name, module in found.items():
                if name in modules:
                    first = modules[name].experiment
                    problems.append(_clash(name, first, module.experiment, Origin(shown, 1)))
                    continue
                modules[name] = module
        problems += trouble
    for name, module in sorted(modules.items()):
        if (out / name).exists() and not force:
            problems.append(
                Problem(
                    "import-exists",
                    (),
                    f"{display_path(out / name)} already exists",
                    "pass --force to replace it, or import into another --out folder",
                    origin=Origin(module.source, 1),
                )
            )
    if problems:
        raise ProblemReport(problems)
    texts = {out / name: module.code for name, module in sorted(modules.items())}
    if not (out / "__init__.py").exists():
        texts[out / "__init__.py"] = SPEC_PACKAGE_DOC
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        atomicfile.write_all(texts)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return Imported([display_path(out / name) for name in sorted(modules)], _notes(modules))


def _notes(modules: dict[str, ImportedModule]) -> list[str]:
    """An Experiment's own namespace is kept in its module, but each environment renders
    its experiments into the environment's namespace: said, not dropped silently."""
    return [
        f"{module.experiment}: its namespace {module.namespace!r} is kept in the module, but "
        "each environment renders it into the environment's own namespace "
        f"(environment(..., namespace=...)); to run it in {module.namespace!r}, give an "
        "environment that namespace"
        for _, module in sorted(modules.items())
        if module.namespace
    ]


def _clash(module: str, first: str, second: str, origin: Origin) -> Problem:
    same = first == second
    return Problem(
        "import-clash",
        (),
        f"two Experiments are named {first!r}"
        if same
        else f"Experiments {first!r} and {second!r} both become {module}",
        "give every Experiment its own name"
        if same
        else "rename one: names that differ only in '-' and '_' make the same module",
        second,
        origin,
    )
