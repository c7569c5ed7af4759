"""Scratch folders that disappear with the step that made them: on success, on error, on Ctrl-C
or SIGTERM (their removal is a section no signal interrupts)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from layerforge.interrupts import deferred

__all__ = ["remove_tree", "scratch_dir"]


def _make_writable(function: object, path: str, _error: object) -> None:
    """rmtree's error handler: a read-only folder (an extracted layer) is made writable first."""
    parent = os.path.dirname(path)
    for target in (parent, path):
        try:
            os.chmod(target, os.stat(target).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        except OSError:
            return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            return


def remove_tree(path: Path) -> None:
    """Remove ``path`` completely, in a section signals cannot interrupt."""
    with deferred():
        if path.exists() or path.is_symlink():
            shutil.rmtree(path, onerror=_make_writable)


@contextmanager
def scratch_dir(prefix: str, *, parent: Path | None = None) -> Iterator[Path]:
    """A fresh folder under ``parent`` (default: TMPDIR), removed when the block ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        remove_tree(path)
