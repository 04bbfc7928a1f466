"""Where a value of a spec was written: a file and a line, found from the call stack for
Python specs or from the YAML parser for imported Katib files."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_GENERATOR_DIR = Path(__file__).resolve().parent.parent
_BASE: ContextVar[Path | None] = ContextVar("origin_base", default=None)


@dataclass(frozen=True, order=True)
class Origin:
    file: str
    line: int
    column: int = 0  # 1-based where known (a syntax error), else 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")


def caller_origin() -> Origin | None:
    """The innermost frame of the call stack that lies outside the generator package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if _outside_generator(filename):
            return Origin(_shown(filename, _BASE.get() or Path.cwd()), frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return None


# Every builder call asks where it was called from: a file's answers are kept (resolving a
# path costs system calls, and a spec that builds in a loop asks thousands of times).
@lru_cache(maxsize=1024)
def _outside_generator(filename: str) -> bool:
    path = Path(filename)
    return path.is_absolute() and _GENERATOR_DIR not in path.resolve().parents


@lru_cache(maxsize=1024)
def _shown(filename: str, base: Path) -> str:
    """display_path, for a file and the base it is shown relative to."""
    return display_path(Path(filename))


@contextmanager
def paths_relative_to(base: Path) -> Iterator[None]:
    """Within the block, origins name files relative to `base` (a project root)."""
    token = _BASE.set(base.resolve())
    try:
        yield
    finally:
        _BASE.reset(token)


def display_path(path: Path) -> str:
    """A path relative to the project root being loaded (else the working directory) when
    it lies below it, else as given."""
    base = _BASE.get() or Path.cwd().resolve()
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return str(path)
