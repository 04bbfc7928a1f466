"""YAML reading and writing: the only module that imports ruamel.yaml. Output is block
style, keys in the order given, strings quoted only where YAML needs it."""

from __future__ import annotations

import datetime
import io
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as _YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    NodeEvent,
)
from ruamel.yaml.nodes import ScalarNode
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
    """One YAML document, with an optional comment header. `fast`, for documents written
    often (a running experiment's status): plain documents are written by `_Plain`, the
    rest by libyaml's emitter (ruamel.yaml.clib); the bytes are ruamel's either way.
    Rendered overlays keep ruamel's pure emitter: their bytes never depend on an optional
    extension."""
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
        if fast:
            try:
                stream.write(_Plain().document(document))
                continue
            except Unsure:
                pass
        _writer(fast).dump(_plain(document), stream)
    return stream.getvalue()


def dump_sequence(items: Sequence[Any]) -> str:
    """A YAML sequence as text (a JSON patch inside a kustomization, say): ruamel's pure
    emitter's bytes, written the fast way where they are known."""
    try:
        return _Plain(exact=True).top_sequence(list(items))
    except Unsure:
        stream = io.StringIO()
        _writer().dump(_plain(list(items)), stream)
        return stream.getvalue()


def dump_rendered(data: Mapping[str, Any], header: str | None = None) -> str:
    """One document of a rendered tree: ruamel's pure emitter's bytes, always (rendered
    files never depend on an optional extension), written by `_Plain` where it knows them
    and asking ruamel for each string it does not know; a document it cannot write at all
    (a key it is unsure of) is ruamel's whole."""
    stream = io.StringIO()
    if header:
        for line in header.splitlines():
            stream.write(f"# {line}\n" if line else "#\n")
        stream.write("---\n")
    try:
        stream.write(_Plain(exact=True).document(data))
    except Unsure:
        _writer().dump(_plain(data), stream)
    return stream.getvalue()


class Unsure(Exception):
    """`_Plain` meets a value whose text it cannot be sure of: ruamel writes the document."""


def plain_scalar(value: Any) -> str:
    """A scalar (str, int, float, bool or None) as `dump(..., fast=True)` writes it as a
    mapping's value or a list's item, for callers that write a known shape of document
    line by line; raises Unsure where only ruamel can say."""
    return _Plain.scalar(value)


def plain_key(key: str) -> str:
    """A mapping's key as `dump(..., fast=True)` writes it (without the colon); raises
    Unsure where only ruamel can say."""
    if len(key) > 100:
        raise Unsure
    return _string(key)


# Strings `_Plain` writes itself. Words (starting with a letter, single spaces between
# them) are plain, or quoted when they are a YAML 1.1 keyword. A token without spaces
# (a number, a time, a path) is quoted when YAML would read it as something else than a
# string, and plain otherwise unless it starts with an indicator. The rest is ruamel's.
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*(?: [A-Za-z0-9_./()-]+)*")
_TOKEN = re.compile(r"[0-9A-Za-z_./:+-]+")
# A command-line argument (`--lr=${trialParameters.lr}`): '-' then no space is no block
# indicator, and '=', '$' and braces past the first character are plain in block context.
_ARGUMENT = re.compile(
    r"-[0-9A-Za-z_.=$][0-9A-Za-z_./:=${}-]*|--[0-9A-Za-z_.=$][0-9A-Za-z_./:=${}-]*"
)


class _Plain:
    """Writes a document of dicts, lists and plain scalars exactly as ruamel's block style
    does under `_new_writer`'s settings (tests hold it to that, byte for byte), at a sixth
    of the cost; raises `Unsure` at anything it does not know to be so."""

    def __init__(self, exact: bool = False) -> None:
        self.lines: list[str] = []
        # exact: a string `_Plain` cannot tell is written as ruamel's pure emitter writes
        # it (a safe multi-line text as its literal block, the rest asked of ruamel).
        self.exact = exact

    def document(self, data: Mapping[str, Any]) -> str:
        if _shape(data) is not _MAPPING or not data:
            raise Unsure
        self.mapping(data, "")
        return "".join(self.lines)

    def top_sequence(self, data: list[Any]) -> str:
        if not data:
            raise Unsure
        self.sequence(data, "")
        return "".join(self.lines)

    def mapping(self, data: Mapping[str, Any], indent: str) -> None:
        inner = indent + "  "
        for key, value in data.items():
            if not isinstance(key, str):
                raise Unsure
            self.entry(f"{indent}{plain_key(key)}:", value, indent, inner)

    def sequence(self, data: list[Any] | tuple[Any, ...], indent: str) -> None:
        inner = indent + "  "
        for item in data:
            shape = _shape(item)
            if shape is _SCALAR or not item:
                self.lines.append(f"{indent}- {self.leaf(item, shape, indent)}\n")
                continue
            start = len(self.lines)
            if shape is _MAPPING:
                self.mapping(item, inner)
            else:
                self.sequence(item, inner)
            self.lines[start] = f"{indent}- {self.lines[start][len(inner) :]}"

    def entry(self, head: str, value: Any, indent: str, inner: str) -> None:
        shape = _shape(value)
        if shape is _SCALAR or not value:
            self.lines.append(f"{head} {self.leaf(value, shape, indent)}\n")
        elif shape is _MAPPING:
            self.lines.append(head + "\n")
            self.mapping(value, inner)
        else:
            self.lines.append(head + "\n")
            self.sequence(value, indent)  # offset 0: items line up with their key

    def leaf(self, value: Any, shape: object, indent: str) -> str:
        if shape is not _SCALAR:
            return "{}" if shape is _MAPPING else "[]"  # empty: nonempty ones nest
        if not self.exact or not isinstance(value, str):
            return _Plain.scalar(value)
        try:
            return _string(value)
        except Unsure:
            text = _literal(value) if "\n" in value else None
            text = text or _ruamel_scalar(value)
        if "\n" not in text:
            return text
        # a block scalar: its lines sit two spaces in from the key or dash they follow
        first, *rest = text.split("\n")
        return "\n".join([first, *(indent + line if line else line for line in rest)])

    @staticmethod
    def scalar(value: Any) -> str:
        if isinstance(value, str):
            return _string(value)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if value != value:
                return ".nan"
            if value in (math.inf, -math.inf):
                return ".inf" if value > 0 else "-.inf"
            return repr(value)
        raise Unsure


_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F)) | {"\n"}


def _literal(value: str) -> str | None:
    """A multi-line text as ruamel's pure emitter writes it as a literal block at the
    left margin (its lines two spaces in), where that is sure: printable ASCII, one or no
    final line break, no line that ends with a space, a first line of text that does not
    start with one;
    None otherwise."""
    if not set(value) <= _PRINTABLE or value.endswith("\n\n"):
        return None
    chomp = "" if value.endswith("\n") else "-"
    lines = (value[:-1] if not chomp else value).split("\n")
    if not lines[0] or lines[0][0] == " " or any(line[-1:] == " " for line in lines):
        return None
    return f"|{chomp}\n" + "\n".join(f"  {line}" if line else "" for line in lines)


_SCALARS: dict[str, str] = {}


def _ruamel_scalar(value: str) -> str:
    """A string as ruamel's pure emitter writes it as a mapping's value, where that is one
    line (kept: spec strings repeat); Unsure where it is more."""
    known = _SCALARS.get(value)
    if known is None:
        stream = io.StringIO()
        _writer().dump({"k": value}, stream)
        known = stream.getvalue()[len("k: ") : -1]
        if any(c in known for c in "\n\r\x85\u2028\u2029"):
            raise Unsure  # a block ruamel writes its own way (blank lines, markers): its whole
        if len(_SCALARS) < _STRINGS_KEPT:
            _SCALARS[value] = known
    return known


# What `_shape` tells apart: a mapping, a list or tuple, anything else.
_MAPPING, _SEQUENCE, _SCALAR = object(), object(), object()
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _shape(value: Any) -> object:
    """The kind of node a value makes; the common types are told by their type alone (a
    Mapping check costs an ABC lookup)."""
    kind = type(value)
    if kind is dict:
        return _MAPPING
    if kind is list or kind is tuple:
        return _SEQUENCE
    if kind in _SCALAR_TYPES:
        return _SCALAR
    if isinstance(value, Mapping):
        return _MAPPING
    if isinstance(value, (list, tuple)):
        return _SEQUENCE
    return _SCALAR


# Strings already written, and how: a status repeats its keys, states and reasons in every
# trial. Bounded, so that a run's unique names and times stop being kept after a while.
_STRINGS: dict[str, str] = {}
_STRINGS_KEPT = 4096


def _string(value: str) -> str:
    known = _STRINGS.get(value)
    if known is not None:
        return known
    text = _string_text(value)
    if len(_STRINGS) < _STRINGS_KEPT:
        _STRINGS[str(value)] = text
    return text


def _string_text(value: str) -> str:
    if not value:
        return "''"
    if len(value) > 1000:
        raise Unsure
    if _WORDS.fullmatch(value):
        return f"'{value}'" if _YAML11_WORDS.match(value) else str(value)
    if _TOKEN.fullmatch(value):
        if _resolves_to_other_than_str(value):
            return f"'{value}'"
        # a colon inside is plain (`sha256:...`); at the end it would start a key
        if value[0] not in "-:+" and value[-1] != ":" and not value.startswith("..."):
            return str(value)
    if _ARGUMENT.fullmatch(value) and value[-1] != ":":
        return f"'{value}'" if _resolves_to_other_than_str(value) else str(value)
    raise Unsure


# Decimals and UTC times, a status file's most common tokens: YAML reads them as a float
# and a timestamp (the tests hold this to the resolver), known without asking it.
_DECIMAL_OR_TIME = re.compile(
    r"[-+]?[0-9]+\.[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z"
)


def _resolves_to_other_than_str(text: str) -> bool:
    """Whether YAML, read back, would take this plain text for a number, a time..."""
    if _DECIMAL_OR_TIME.fullmatch(text):
        return True
    if "/" in text:  # a path: no number, time, boolean or null has a slash
        return False
    tag = _writer(True).resolver.resolve(ScalarNode, text, (True, False))
    return str(tag) != "tag:yaml.org,2002:str"


# Bounds for files hpo-gen writes itself and reads back (status files, rendered overlays):
# larger than a spec, but still refusing an alias bomb planted in one.
DATA_NODES = 2_000_000
DATA_BYTES = 256 << 20


def load_all(text: str, *, data: bool = False) -> list[Any]:
    """Every document of a YAML stream as plain Python data (empty documents dropped).
    Raises LimitError for a stream beyond `check_limits`' bounds: a spec's, or with
    `data` those of a file hpo-gen writes and reads back (status files, built overlays)."""
    _check(text, data)
    yaml = YAML(typ="safe", pure=True)
    return [doc for doc in yaml.load_all(text) if doc is not None]


def load(text: str, *, data: bool = False) -> Any:
    """One document, as `load_all`."""
    _check(text, data)
    return YAML(typ="safe", pure=True).load(text)


def _check(text: str, data: bool) -> None:
    if data:
        check_limits(text, DATA_NODES, DATA_BYTES)
    else:
        check_limits(text)


def _plain(value: Any) -> Any:
    """Plain dicts and lists, so the safe representer accepts every mapping and sequence."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# Path of a node inside a document (keys and list indexes) -> its 0-based line.
LineTable = dict[tuple[str | int, ...], int]


# What a YAML stream given to hpo-gen may hold. Katib Experiments and their ConfigMaps are
# a few kilobytes and a dozen levels deep; these bounds refuse hostile input (an alias
# bomb, a deep nest that would exhaust the recursion limit) before it is built.
MAX_DOCUMENTS = 1000
MAX_DOCUMENT_BYTES = 1 << 20  # 1 MiB: Kubernetes' etcd keeps objects of 1.5 MiB at most
MAX_DEPTH = 100
MAX_NODES = 100_000  # per document, counting every alias as the nodes it stands for


class LimitError(_YAMLError):
    """The stream is beyond a bound of `check_limits`; `line` is 0-based."""

    def __init__(self, message: str, hint: str, line: int):
        super().__init__(message)
        self.problem, self.hint, self.line = message, hint, line


def check_limits(
    text: str, max_nodes: int = MAX_NODES, max_bytes: int = MAX_DOCUMENT_BYTES
) -> None:
    """Raise LimitError where `text` holds more documents, bigger documents, deeper
    nesting or more nodes (aliases expanded) than the bounds above. It reads the parser's
    events only, without building anything, so it takes time in proportion to the text."""
    yaml = YAML(typ="rt", pure=True)
    documents = 0
    depth = 0
    nodes = 0
    start_index = 0
    sizes: dict[str, int] = {}  # anchor -> nodes it stands for, once its node has ended
    open_anchors: list[tuple[str | None, int]] = []  # collections open: (anchor, nodes then)
    for event in yaml.parse(text):
        mark = event.start_mark
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > MAX_DOCUMENTS:
                raise LimitError(
                    f"holds more than {MAX_DOCUMENTS} YAML documents",
                    "split the file",
                    mark.line,
                )
            nodes, start_index, sizes = 0, mark.index, {}
            continue
        if isinstance(event, DocumentEndEvent):
            if event.end_mark.index - start_index > max_bytes:
                raise LimitError(
                    f"holds a document of more than {max_bytes} bytes",
                    "no Katib object is that large: check what the file holds",
                    mark.line,
                )
            continue
        if isinstance(event, AliasEvent):
            nodes += sizes.get(str(event.anchor), 1)
        elif isinstance(event, CollectionStartEvent):
            nodes += 1
            depth += 1
            open_anchors.append((event.anchor, nodes))
            if depth > MAX_DEPTH:
                raise LimitError(
                    f"nests more than {MAX_DEPTH} levels deep",
                    "flatten the structure: no Katib field nests that deep",
                    mark.line,
                )
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
            anchor, before = open_anchors.pop()
            if anchor is not None:
                sizes[str(anchor)] = nodes - before + 1
        elif isinstance(event, NodeEvent):  # a scalar
            nodes += 1
            if event.anchor is not None:
                sizes[str(event.anchor)] = 1
        if nodes > max_nodes:
            raise LimitError(
                f"expands to more than {max_nodes} values (anchors and aliases counted "
                "as what they stand for)",
                "write the values out, or use fewer aliases",
                mark.line,
            )


def load_all_with_lines(text: str) -> list[tuple[Any, LineTable]]:
    """Every document of a YAML stream as plain data, with the line of every key and item.
    Raises LimitError for a stream beyond `check_limits`' bounds."""
    check_limits(text)
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
