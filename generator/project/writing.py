"""Writing the rendered tree to disk, atomically, and comparing it with what is there.
The output folder is owned by hpo-gen: files it would not write are removed."""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from pathlib import Path

from generator.files import atomicfile
from generator.katib.repository import OVERLAYS_FOLDER
from generator.rendering import RenderedTree


def current_tree(out_dir: Path) -> RenderedTree:
    """The files now under `out_dir`, as text (an absent folder is an empty tree)."""
    if not out_dir.is_dir():
        return {}
    tree = {}
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            tree[path.relative_to(out_dir).as_posix()] = path.read_text(encoding="utf-8")
    return tree


def diff_tree(out_dir: Path, tree: RenderedTree, label: str = OVERLAYS_FOLDER) -> str:
    """A unified diff from what is on disk to `tree`; empty when they are the same."""
    current = current_tree(out_dir)
    chunks: list[str] = []
    for name in sorted(set(current) | set(tree)):
        old, new = current.get(name), tree.get(name)
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"a/{label}/{name}" if old is not None else "/dev/null",
                tofile=f"b/{label}/{name}" if new is not None else "/dev/null",
            )
        )
    return "".join(chunk if chunk.endswith("\n") else chunk + "\n" for chunk in chunks)


def write_tree(out_dir: Path, tree: RenderedTree) -> bool:
    """Replace `out_dir` with exactly `tree`. Returns whether anything changed.

    The new tree is written in full beside the old one, flushed to disk and renamed into
    place, so a run that fails part-way (or a machine that stops) leaves the old tree as it
    was.
    """
    if current_tree(out_dir) == tree:
        return False
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    retired: Path | None = None
    try:
        for folder in sorted({(staging / name).parent for name in tree}):
            folder.mkdir(parents=True, exist_ok=True)
        for name, text in tree.items():
            with open(staging / name, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        # Every file on disk before the tree is renamed into place: one sync for the whole
        # tree (a thousand experiments make two thousand files; one fsync each costs more
        # than rendering them).
        os.sync()
        os.chmod(staging, atomicfile.folder_mode())  # mkdtemp made it 0700
        if out_dir.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.rename(out_dir, retired / out_dir.name)
        os.rename(staging, out_dir)
    except BaseException:
        if retired is not None and not out_dir.exists():
            os.rename(retired / out_dir.name, out_dir)  # put the old tree back
        shutil.rmtree(staging, ignore_errors=True)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
        raise
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    return True
