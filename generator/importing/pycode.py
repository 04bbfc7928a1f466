"""Writing Python source: literals and calls, laid out the way a code formatter would
(one line when it fits, else one item per line with a trailing comma). Used by
`hpo-gen import` to write spec modules a person would have written."""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LINE_WIDTH = 100
INDENT = "    "


@dataclass(frozen=True)
class Code:
    """Python source text that is inserted as it is (a name, a call already written)."""

    text: str


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


def call(function: str, *args: Any, **kwargs: Any) -> Call:
    """A call; keyword arguments whose value is None are left out."""
    return Call(function, args, tuple((k, v) for k, v in kwargs.items() if v is not None))


def is_identifier(name: str) -> bool:
    """An ASCII name that Python reads as itself (a non-ASCII one may be normalised to
    another name, NFKC)."""
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name)


def identifier(name: str) -> str:
    """A Python identifier for a Kubernetes-style name: `katib-random` -> `katib_random`."""
    text = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower() or "value"
    if text[0].isdigit() or keyword.iskeyword(text):
        text = f"experiment_{text}"
    return text


def string(text: str) -> str:
    """The one way a string reaches generated code: a literal that reads back as `text`,
    whatever it holds (quotes, backslashes, newlines, control characters, lone
    surrogates), in the quotes a code formatter prefers: double, unless single ones need
    fewer escapes."""
    quote = '"' if text.count('"') <= text.count("'") else "'"
    return quote + "".join(_escaped(char, quote) for char in text) + quote


def _escaped(char: str, quote: str) -> str:
    if char in (quote, "\\"):
        return "\\" + char
    if char.isprintable():
        return char
    return repr(char)[1:-1]  # \n, \t, \x00, \u2028, \ud800: an escape Python reads back


def docstring(text: str) -> str:
    """A triple-quoted docstring that reads back as `text`, escaped as `string` escapes:
    every double quote is escaped, so none can end it early."""
    return '"""' + "".join(_escaped(char, '"') for char in text) + '"""'


def _pieces(text: str, width: int) -> list[str]:
    """`text` cut after newlines and, where a line is too long, after spaces."""
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        current = ""
        for word in re.findall(r"\S*\s*", line):
            if current and len(string(current + word)) > width:
                pieces.append(current)
                current = ""
            current += word
        if current:
            pieces.append(current)
    return pieces


def render(value: Any, indent: int = 0, used: int = 0) -> str:
    """`value` as Python source at the given indent level; `used` counts the characters
    the line already holds around it (a `name=` before it, a `,` after it)."""
    flat = _flat(value)
    if flat is not None and len(flat) + used + indent * len(INDENT) <= LINE_WIDTH:
        return flat
    pad = INDENT * (indent + 1)
    close = INDENT * indent
    if isinstance(value, str):
        pieces = _pieces(value, LINE_WIDTH - len(pad))
        if len(pieces) > 1:
            return "(\n" + "".join(f"{pad}{string(p)}\n" for p in pieces) + f"{close})"
    if isinstance(value, Call):
        items = [render(a, indent + 1, 1) for a in value.args]
        items += [_keyword(k, v, indent + 1) for k, v in value.kwargs]
        return f"{value.function}(\n" + "".join(f"{pad}{i},\n" for i in items) + f"{close})"
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            head = f"{string(str(key))}: "
            items.append(head + render(item, indent + 1, len(head) + 1))
        return "{\n" + "".join(f"{pad}{i},\n" for i in items) + f"{close}}}"
    if isinstance(value, list | tuple):
        items = [render(v, indent + 1, 1) for v in value]
        return "[\n" + "".join(f"{pad}{i},\n" for i in items) + f"{close}]"
    return flat or repr(value)


def _keyword(name: str, value: Any, indent: int) -> str:
    if is_identifier(name):
        return f"{name}=" + render(value, indent, len(name) + 2)
    head = f"**{{{string(name)}: "
    return head + render(value, indent, len(head) + 2) + "}"


def _flat(value: Any) -> str | None:
    """The one-line spelling, or None when `value` cannot be written on one line."""
    if isinstance(value, Code):
        return value.text
    if isinstance(value, Call):
        parts = [_flat(a) for a in value.args]
        for key, item in value.kwargs:
            text = _flat(item)
            if text is None:
                return None
            parts.append(f"{key}={text}" if is_identifier(key) else f"**{{{string(key)}: {text}}}")
        if any(p is None for p in parts):
            return None
        return f"{value.function}({', '.join(p for p in parts if p is not None)})"
    if isinstance(value, str):
        return string(value)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, dict):
        pairs = [(string(str(k)), _flat(v)) for k, v in value.items()]
        if any(v is None for _, v in pairs):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if isinstance(value, list | tuple):
        flat = [_flat(v) for v in value]
        if any(f is None for f in flat):
            return None
        return "[" + ", ".join(f for f in flat if f is not None) + "]"
    return None


def imports(module: str, names: Sequence[str]) -> str:
    # isort's order by type, as ruff applies it: CONSTANTS, then Classes, then functions.
    ordered = sorted(
        set(names), key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    line = f"from {module} import {', '.join(ordered)}"
    if len(line) <= LINE_WIDTH:
        return line + "\n"
    return f"from {module} import (\n" + "".join(f"{INDENT}{n},\n" for n in ordered) + ")\n"


class UnsafeCode(ValueError):
    """Generated source holds a statement or expression that `evaluate` does not run."""


def evaluate(
    source: str, builders: Mapping[str, Any], filename: str = "<generated>"
) -> dict[str, Any]:
    """Build what a generated module defines without running it as Python: the parsed
    tree is walked, and the only things it may do are what this module writes (a
    docstring, `from generator import ...` of the given builders, assignments of literals,
    earlier names and calls of the imported builders). Anything else raises UnsafeCode."""
    tree = ast.parse(source, filename)
    scope: dict[str, Any] = {}
    imported: dict[str, Any] = {}
    defined: dict[str, Any] = {}
    for index, node in enumerate(tree.body):
        if index == 0 and isinstance(node, ast.Expr) and _is_text(node.value):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "generator" and not node.level:
            for alias in node.names:
                if alias.asname is not None or alias.name not in builders:
                    raise UnsafeCode(f"line {node.lineno}: imports {alias.name!r}")
                scope[alias.name] = imported[alias.name] = builders[alias.name]
            continue
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            value = _value(node.value, scope, imported)
            scope[node.targets[0].id] = defined[node.targets[0].id] = value
            continue
        raise UnsafeCode(f"line {node.lineno}: a {type(node).__name__} statement")
    return defined


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _value(node: ast.expr, scope: Mapping[str, Any], imported: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (str, int, float, bool, type(None)):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value
    if isinstance(node, ast.List):
        return [_value(item, scope, imported) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(item, scope, imported) for item in node.elts)
    if isinstance(node, ast.Dict):
        keys = [key for key in node.keys if key is not None]
        if len(keys) != len(node.keys):
            raise UnsafeCode(f"line {node.lineno}: a dict that unpacks another")
        return {
            _value(k, scope, imported): _value(v, scope, imported)
            for k, v in zip(keys, node.values, strict=True)
        }
    if isinstance(node, ast.Name) and node.id in scope:
        return scope[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported:
        function = imported[node.func.id]
        args = [_value(arg, scope, imported) for arg in node.args]
        kwargs: dict[str, Any] = {}
        for keyword_ in node.keywords:
            if keyword_.arg is not None:
                kwargs[keyword_.arg] = _value(keyword_.value, scope, imported)
                continue
            unpacked = _value(keyword_.value, scope, imported)
            if not isinstance(unpacked, dict) or not all(isinstance(k, str) for k in unpacked):
                raise UnsafeCode(f"line {node.lineno}: unpacks what is not a dict of names")
            kwargs.update(unpacked)
        return function(*args, **kwargs)
    raise UnsafeCode(f"line {getattr(node, 'lineno', 0)}: a {type(node).__name__} expression")
