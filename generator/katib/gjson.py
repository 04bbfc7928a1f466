"""The part of GJSON (github.com/tidwall/gjson) that Katib's trial templates use to say
when a trial's workload succeeded or failed, evaluated on the workload object as a plain
value. Pure.

Katib reads `successCondition` / `failureCondition` with GJSON against the JSON of the
trial's object, and a condition holds when the result is an object or a non-empty array
(a `true` does not count). The syntax taken here covers Katib's defaults and every
condition of its examples, and the common neighbours of those:

- keys separated by dots (`status.conditions`), `\\.` for a dot inside a key, an array
  index (`items.0`), `*` and `?` wildcards in a key;
- `#`: an array's length; `#.key`: that key of every element;
- queries `#(key op value)` (the first match) and `#(key op value)#` (every match), with
  `==`, `!=`, `<`, `<=`, `>`, `>=`, `%` (a wildcard match) and `!%`, the key a path of its
  own; a string, number, `true`, `false` or `null` on the right; `#(key)` for "has key";
- `|` to apply the rest of the path to the result so far (`...#(a=="x")#|#(b=="y")#`);
- `@this`, and `[p1,p2]` to build an array of paths' results (`status.[@this]`).

Anything else is a ConditionError that names the part, so that a condition the
controller cannot evaluate is found when the spec is validated, not when a trial ends."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Condition", "ConditionError", "evaluate", "holding", "holds", "parse"]


class ConditionError(ValueError):
    """A condition outside the GJSON subset, or not GJSON at all."""


_MISSING = object()


@dataclass(frozen=True)
class _Key:
    name: str  # may hold * and ? wildcards


@dataclass(frozen=True)
class _Count:
    pass


@dataclass(frozen=True)
class _Each:
    rest: tuple[Any, ...]  # the path applied to every element


@dataclass(frozen=True)
class _Query:
    key: tuple[Any, ...]  # a path inside each element
    op: str | None  # None: the key exists
    value: Any
    every: bool  # #(...)#: all matches; #(...): the first


@dataclass(frozen=True)
class _This:
    pass


@dataclass(frozen=True)
class _Multi:
    paths: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Condition:
    """A parsed condition; `evaluate` / `holds` run it."""

    text: str
    steps: tuple[Any, ...]


def parse(text: str) -> Condition:
    """The condition, parsed; a ConditionError that says which part is outside the subset."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("an empty condition")
    steps, end = _Parser(text).path(0, stop="")
    assert end == len(text)
    return Condition(text, tuple(steps))


def evaluate(condition: Condition | str, document: Any) -> Any:
    """What the condition's path selects in the document; `None` where it selects nothing."""
    parsed = parse(condition) if isinstance(condition, str) else condition
    found = _walk(parsed.steps, document)
    return None if found is _MISSING else found


def holds(condition: Condition | str, document: Any) -> bool:
    """Katib's test of a condition on a workload: it selects an object or a non-empty
    array."""
    return holding(evaluate(condition, document))


def holding(found: Any) -> bool:
    """Whether what a condition selected makes it hold: an object or a non-empty array."""
    return isinstance(found, dict) or (isinstance(found, list) and len(found) > 0)


_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "!%", "%")


class _Parser:
    def __init__(self, text: str):
        self.text = text

    def fail(self, at: int, what: str) -> ConditionError:
        return ConditionError(f"{what} at character {at + 1} of {self.text!r}")

    def path(self, at: int, stop: str) -> tuple[list[Any], int]:
        """Steps from `at` to the end or to a character of `stop` at depth 0."""
        text = self.text
        steps: list[Any] = []
        expect_step = True
        while at < len(text) and text[at] not in stop:
            char = text[at]
            if char == "|":
                if expect_step:
                    raise self.fail(at, "an empty step before '|'")
                at += 1  # the rest applies to the result so far, as after a '.' here
                expect_step = True
                continue
            if char == ".":
                if expect_step:
                    raise self.fail(at, "an empty key")
                at += 1
                expect_step = True
                continue
            if not expect_step:
                raise self.fail(at, f"{char!r} where '.' or '|' was expected")
            step, at = self.step(at, stop)
            if isinstance(step, _Each):
                steps.append(step)
                return steps, at
            steps.append(step)
            expect_step = False
        if expect_step:
            raise self.fail(at, "a path that ends with '.' or '|'" if steps else "an empty path")
        return steps, at

    def step(self, at: int, stop: str) -> tuple[Any, int]:
        text = self.text
        if text.startswith("#(", at):
            return self.query(at + 2)
        if text.startswith("#.", at):
            rest, end = self.path(at + 2, stop)
            return _Each(tuple(rest)), end
        if text[at] == "#" and (at + 1 == len(text) or text[at + 1] in ".|" + stop):
            return _Count(), at + 1
        if text.startswith("@this", at):
            return _This(), at + 5
        if text[at] == "@":
            raise self.fail(at, "a modifier other than @this")
        if text[at] == "[":
            return self.multi(at + 1)
        if text[at] in "{!=<>%(),]":
            raise self.fail(at, f"{text[at]!r}, which is not part of the GJSON subset")
        return self.key(at, stop)

    def key(self, at: int, stop: str) -> tuple[_Key, int]:
        text, name = self.text, []
        while at < len(text) and text[at] not in ".|" + stop:
            if text[at] == "\\" and at + 1 < len(text):
                name.append(text[at + 1])
                at += 2
                continue
            if text[at] in "#@[](){}=!<>%":
                raise self.fail(at, f"{text[at]!r} inside a key (escape it with '\\')")
            name.append(text[at])
            at += 1
        return _Key("".join(name)), at

    def multi(self, at: int) -> tuple[_Multi, int]:
        paths = []
        while True:
            steps, at = self.path(at, stop=",]")
            paths.append(tuple(steps))
            if at >= len(self.text):
                raise self.fail(at, "a '[' without its ']'")
            if self.text[at] == "]":
                return _Multi(tuple(paths)), at + 1
            at += 1  # ','

    def query(self, at: int) -> tuple[_Query, int]:
        text = self.text
        key, at = self.path(at, stop="=!<>%)")
        if at >= len(text):
            raise self.fail(at, "a '#(' without its ')'")
        op = None
        value: Any = None
        if text[at] != ")":
            op = next((o for o in _OPERATORS if text.startswith(o, at)), None)
            if op is None:
                raise self.fail(at, "an unknown comparison")
            value, at = self.literal(at + len(op))
            if at >= len(text) or text[at] != ")":
                raise self.fail(at, "a query with more than one comparison")
        at += 1
        every = at < len(text) and text[at] == "#"
        return _Query(tuple(key), op, value, every), at + (1 if every else 0)

    def literal(self, at: int) -> tuple[Any, int]:
        text = self.text
        if at < len(text) and text[at] == '"':
            out, at = [], at + 1
            while at < len(text) and text[at] != '"':
                if text[at] == "\\" and at + 1 < len(text):
                    out.append(text[at + 1])
                    at += 2
                    continue
                out.append(text[at])
                at += 1
            if at >= len(text):
                raise self.fail(at, "a string without its closing '\"'")
            return "".join(out), at + 1
        end = at
        while end < len(text) and text[end] != ")":
            end += 1
        word = text[at:end].strip()
        if word in ("true", "false"):
            return word == "true", end
        if word == "null":
            return None, end
        try:
            return float(word), end
        except ValueError:
            raise self.fail(at, f"{word!r}, which is not a string, number or boolean") from None


def _walk(steps: tuple[Any, ...], value: Any) -> Any:
    for step in steps:
        if value is _MISSING:
            return _MISSING
        if isinstance(step, _Each):
            if not isinstance(value, list):
                return _MISSING
            found = [_walk(step.rest, item) for item in value]
            return [item for item in found if item is not _MISSING]
        value = _apply(step, value)
    return value


def _apply(step: Any, value: Any) -> Any:
    if isinstance(step, _This):
        return value
    if isinstance(step, _Multi):
        found = [_walk(path, value) for path in step.paths]
        return [item for item in found if item is not _MISSING]
    if isinstance(step, _Count):
        return len(value) if isinstance(value, list) else _MISSING
    if isinstance(step, _Query):
        if not isinstance(value, list):
            return _MISSING
        matches = [item for item in value if _matches(step, item)]
        if step.every:
            return matches
        return matches[0] if matches else _MISSING
    assert isinstance(step, _Key)
    return _key(step.name, value)


def _key(name: str, value: Any) -> Any:
    wild = "*" in name or "?" in name
    if isinstance(value, dict):
        if not wild:
            return value.get(name, _MISSING)
        for key, item in value.items():
            if fnmatch.fnmatchcase(str(key), name):
                return item
        return _MISSING
    if isinstance(value, list) and name.isdigit():
        number = int(name)
        return value[number] if number < len(value) else _MISSING
    return _MISSING


def _matches(query: _Query, item: Any) -> bool:
    found = _walk(query.key, item)
    if query.op is None:
        return found is not _MISSING
    if found is _MISSING:
        return False
    return _compare(found, query.op, query.value)


def _compare(left: Any, op: str, right: Any) -> bool:
    if op in ("%", "!%"):
        matched = isinstance(left, str) and isinstance(right, str) and _like(left, right)
        return matched if op == "%" else not matched
    if isinstance(right, str):
        if not isinstance(left, str):
            return op == "!="
        pair: tuple[Any, Any] = (left, right)
    elif isinstance(right, bool) or right is None:
        equal = left is right or (isinstance(left, bool) and left == right)
        return equal if op == "==" else (not equal if op == "!=" else False)
    else:
        if isinstance(left, bool) or not isinstance(left, int | float):
            return op == "!="
        if math.isnan(left):
            return op == "!="
        pair = (float(left), right)
    a, b = pair
    result: bool = {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]
    return result


def _like(text: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern)
