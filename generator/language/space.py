"""The search space as a user writes it: `double(0.01, 0.05)`, `categorical([32, 64])`,
gathered in a `SearchSpace` whose attributes are the `${trialParameters.*}` placeholders
that wire each parameter into the trial's container arguments."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from generator.files.origin import Origin, caller_origin
from generator.katib.models import FeasibleSpace, ParameterSpec, TrialParameterSpec
from generator.katib.placeholders import placeholder
from generator.problems import did_you_mean

Number = int | float
Value = int | float | str


def wire_number(value: Number | str) -> str:
    """Katib carries numbers as strings: ints as digits, floats in Python's shortest repr;
    a string is taken as written (for spellings such as "1e-3" or "0.00001")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r} ({type(value).__name__})")
    return str(value) if isinstance(value, int) else repr(float(value))


def wire_value(value: Value) -> str:
    if isinstance(value, str):
        return value
    return wire_number(value)


@dataclass(frozen=True)
class Tunable:
    """One hyperparameter before it is given its name by a `SearchSpace`."""

    parameter_type: str
    feasible_space: FeasibleSpace
    description: str | None
    trial_parameter: str | None
    origin: Origin | None

    def parameter(self, name: str) -> ParameterSpec:
        spec = ParameterSpec(
            name=name, parameter_type=self.parameter_type, feasible_space=self.feasible_space
        )
        spec.feasible_space.located(self.origin)
        return spec.located(self.origin)

    def trial_parameter_spec(self, name: str) -> TrialParameterSpec:
        spec = TrialParameterSpec(
            name=self.trial_parameter or name, description=self.description, reference=name
        )
        return spec.located(self.origin)


def double(
    min: Number | str,
    max: Number | str,
    *,
    step: Number | str | None = None,
    distribution: str | None = None,
    description: str | None = None,
    trial_parameter: str | None = None,
) -> Tunable:
    """A real-valued parameter in [min, max]."""
    return _numeric("double", min, max, step, distribution, description, trial_parameter)


def integer(
    min: int | str,
    max: int | str,
    *,
    step: int | str | None = None,
    distribution: str | None = None,
    description: str | None = None,
    trial_parameter: str | None = None,
) -> Tunable:
    """An integer parameter in [min, max] (Katib's `int`)."""
    return _numeric("int", min, max, step, distribution, description, trial_parameter)


def categorical(
    values: Sequence[Value],
    *,
    description: str | None = None,
    trial_parameter: str | None = None,
) -> Tunable:
    """One of the listed values, unordered."""
    return _listed("categorical", values, description, trial_parameter)


def discrete(
    values: Sequence[Number | str],
    *,
    description: str | None = None,
    trial_parameter: str | None = None,
) -> Tunable:
    """One of the listed numbers, ordered."""
    return _listed("discrete", values, description, trial_parameter)


def _numeric(
    parameter_type: str,
    min: Number | str,
    max: Number | str,
    step: Number | str | None,
    distribution: str | None,
    description: str | None,
    trial_parameter: str | None,
) -> Tunable:
    space = FeasibleSpace(
        min=wire_number(min),
        max=wire_number(max),
        step=None if step is None else wire_number(step),
        distribution=distribution,
    )
    return Tunable(parameter_type, space, description, trial_parameter, caller_origin())


def _listed(
    parameter_type: str,
    values: Sequence[Value],
    description: str | None,
    trial_parameter: str | None,
) -> Tunable:
    if isinstance(values, str):
        raise TypeError(f"{parameter_type}() takes a list of values, not the string {values!r}")
    space = FeasibleSpace(list_=[wire_value(v) for v in values])
    return Tunable(parameter_type, space, description, trial_parameter, caller_origin())


class SearchSpace:
    """Named hyperparameters, in the order given.

    `space.lr` (or `space["learning-rate"]` for names that are not identifiers) is the
    placeholder for that parameter, for use in container arguments: f"--lr={space.lr}".
    `space.cli_args()` spells every parameter as `--name=<placeholder>`.
    """

    def __init__(self, parameters: Mapping[str, Tunable] | None = None, /, **named: Tunable):
        merged: dict[str, Tunable] = dict(parameters or {})
        for name, tunable in named.items():
            if name in merged:
                raise ValueError(f"parameter {name!r} is given twice")
            merged[name] = tunable
        for name, tunable in merged.items():
            if not isinstance(tunable, Tunable):
                raise TypeError(
                    f"parameter {name!r} must be built with double(), integer(), categorical() "
                    f"or discrete(), got {tunable!r}"
                )
        self._tunables = merged

    def __iter__(self) -> Iterator[str]:
        return iter(self._tunables)

    def __len__(self) -> int:
        return len(self._tunables)

    def __getitem__(self, name: str) -> str:
        tunable = self._tunables.get(name)
        if tunable is None:
            raise KeyError(f"no parameter {name!r} in the search space; {self._hint(name)}")
        return placeholder(tunable.trial_parameter or name)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._tunables:
            raise AttributeError(f"no parameter {name!r} in the search space; {self._hint(name)}")
        return self[name]

    def _hint(self, name: str) -> str:
        return did_you_mean(name, self._tunables) if self._tunables else "the space is empty"

    def cli_args(self, *, dashes: bool = True) -> list[str]:
        """`--name=<placeholder>` for every parameter; underscores become dashes."""
        args = []
        for name in self._tunables:
            flag = name.replace("_", "-") if dashes else name
            args.append(f"--{flag}={self[name]}")
        return args

    def parameters(self) -> list[ParameterSpec]:
        return [t.parameter(name) for name, t in self._tunables.items()]

    def trial_parameters(self) -> list[TrialParameterSpec]:
        return [t.trial_parameter_spec(name) for name, t in self._tunables.items()]
