"""Writing Python source: literals and calls, laid out the way a code formatter would
(one line when it fits, else one item per line with a trailing comma). Used by
`hpo-gen import` to write spec modules a person would have written."""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Sequence
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
    return name.isidentifier() and not keyword.iskeyword(name)


def identifier(name: str) -> str:
    """A Python identifier for a Kubernetes-style name: `katib-random` -> `katib_random`."""
    text = re.sub(r"\W+", "_", name).strip("_").lower() or "value"
    if text[0].isdigit() or keyword.iskeyword(text):
        text = f"experiment_{text}"
    return text


def string(text: str) -> str:
    """A string literal in the formatter's preferred quotes: double, unless the text holds
    double quotes and no single ones."""
    if '"' in text and "'" not in text:
        return repr(text)
    return json.dumps(text, ensure_ascii=False)


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
