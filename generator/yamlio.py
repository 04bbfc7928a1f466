"""YAML reading and writing: the only module that imports ruamel.yaml. Output is block
style, keys in the order given, strings quoted only where YAML needs it."""

from __future__ import annotations

import datetime
import io
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as _YAMLError
from ruamel.yaml.representer import SafeRepresenter
from ruamel.yaml.scalarbool import ScalarBoolean

YAMLError = _YAMLError


# Plain words that YAML 1.1 readers (older Kubernetes tooling) take for booleans or null.
_YAML11_WORDS = re.compile(r"^(y|n|yes|no|on|off|true|false|null|~)$", re.IGNORECASE)


def _represent_str(representer: Any, data: str) -> Any:
    style: str | None = None
    if "\n" in data:
        style = "|"
    elif _YAML11_WORDS.match(data):
        style = "'"
    return representer.represent_scalar("tag:yaml.org,2002:str", data, style=style)


class _Representer(SafeRepresenter):
    """Quotes YAML 1.1 keywords and writes multi-line strings as literal blocks."""


_Representer.add_representer(str, _represent_str)


_writers = threading.local()


def _writer(fast: bool = False) -> YAML:
    """A configured writer, made once per thread and kind: making one costs as much as
    writing a small document."""
    made: dict[bool, YAML] = _writers.__dict__.setdefault("made", {})
    if fast not in made:
        made[fast] = _new_writer(fast)
    return made[fast]


def _new_writer(fast: bool) -> YAML:
    yaml = YAML(typ="safe", pure=not fast)
    yaml.Representer = _Representer
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # keep field order
    yaml.default_flow_style = False
    yaml.width = 4096  # never fold long strings: stable diffs
    yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def dump(data: Mapping[str, Any], header: str | None = None, fast: bool = False) -> str:
    """One YAML document, with an optional comment header. `fast` uses libyaml's emitter
    (ruamel.yaml.clib) for large documents written often; rendered overlays keep the
    pure emitter so that their bytes never depend on an optional extension."""
    return dump_all([data], header=header, fast=fast)


def dump_all(
    documents: Iterable[Mapping[str, Any]], header: str | None = None, fast: bool = False
) -> str:
    stream = io.StringIO()
    if header:
        for line in header.splitlines():
            stream.write(f"# {line}\n" if line else "#\n")
    docs = list(documents)
    for index, document in enumerate(docs):
        if index or header:
            stream.write("---\n")
        _writer(fast).dump(_plain(document), stream)
    return stream.getvalue()


def load_all(text: str) -> list[Any]:
    """Every document of a YAML stream as plain Python data (empty documents dropped)."""
    yaml = YAML(typ="safe", pure=True)
    return [doc for doc in yaml.load_all(text) if doc is not None]


def load(text: str) -> Any:
    yaml = YAML(typ="safe", pure=True)
    return yaml.load(text)


def _plain(value: Any) -> Any:
    """Plain dicts and lists, so the safe representer accepts every mapping and sequence."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# Path of a node inside a document (keys and list indexes) -> its 0-based line.
LineTable = dict[tuple[str | int, ...], int]


def load_all_with_lines(text: str) -> list[tuple[Any, LineTable]]:
    """Every document of a YAML stream as plain data, with the line of every key and item."""
    yaml = YAML(typ="rt", pure=True)
    documents = []
    for document in yaml.load_all(text):
        if document is None:
            continue
        lines: LineTable = {}
        start = getattr(getattr(document, "lc", None), "line", 0) or 0
        lines[()] = start
        documents.append((_plain_with_lines(document, (), lines), lines))
    return documents


def _plain_with_lines(node: Any, path: tuple[str | int, ...], lines: LineTable) -> Any:
    if isinstance(node, CommentedMap):
        result = {}
        for key, value in node.items():
            child = (*path, str(key))
            position = node.lc.key(key)
            if position is not None:
                lines[child] = position[0]
            result[str(key)] = _plain_with_lines(value, child, lines)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            position = node.lc.item(index)
            if position is not None:
                lines[child] = position[0]
            items.append(_plain_with_lines(value, child, lines))
        return items
    return _scalar(node)


def _scalar(node: Any) -> Any:
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, ScalarBoolean):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, datetime.date):
        return node.isoformat()
    return str(node)
