"""Scratch folders that disappear with the step that made them: on success, on error, on Ctrl-C
or SIGTERM (their removal is a section no signal interrupts)."""

from __future__ import annotations

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
    target = Path(path)
    for item in (target.parent, target):
        try:
            item.chmod(item.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
        except OSError:
            return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)


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
