"""Escaping text for the line-based formats hpo-gen and hpo-controller write, one function
per format, so that a value read from a spec, a status file or a trial (a parameter value,
a metric name, a message) can neither start a line of its own nor change the structure of
what it is written into. Python literals have theirs in `pycode.string`; JSON and YAML are
written by their libraries."""

from __future__ import annotations

import re


def _visible(char: str) -> str:
    """A character as it may stand in one line of text: itself, or its Python escape
    (`\\n`, `\\x1b`, `\\u2028`) where it is a control or separator character."""
    return char if char.isprintable() else repr(char)[1:-1]


def one_line(text: str) -> str:
    """`text` for a log line or a line of console output: line breaks, terminal escape
    sequences and other control characters are shown as escapes, never obeyed."""
    if text.isprintable():
        return text
    return "".join(_visible(char) for char in text)


# Characters that change the structure of a GitHub-flavoured Markdown table cell or of
# inline text: cell borders, code spans, emphasis, links, raw HTML, backslash escapes.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~])")


def markdown_text(text: str) -> str:
    """`text` as literal Markdown inline text, fit for a table cell: one line, every
    character that Markdown would read as syntax escaped with a backslash."""
    return _MARKDOWN.sub(r"\\\1", one_line(text))


# What a variable name may be in a shell or a .env file.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
