"""Walking an installed layer tree: its files in a stable order, and their sizes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["iter_files", "tree_bytes"]


def iter_files(root: Path) -> Iterator[Path]:
    """Every regular file below ``root`` (links followed), sorted by relative POSIX path."""
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in files:
            path = Path(folder) / name
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    for _, path in sorted(found):
        yield path


def tree_bytes(root: Path) -> int:
    """Total size of the files below ``root``: what the layer takes unzipped."""
    return sum(path.stat().st_size for path in iter_files(root))
