"""Walking an installed layer tree: its files in a stable order, and their sizes.

One ``scandir`` pass per call (the directory entries carry the file type, and each entry
caches its ``stat``), since a build walks its tree of some 5,000 files several times."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["iter_files", "tree_bytes"]


def _regular_files(folder: str, prefix: str, found: list[tuple[str, os.DirEntry[str]]]) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _regular_files(entry.path, f"{prefix}{entry.name}/", found)
            elif entry.is_file():  # a link to a file counts; a link to a folder is not followed
                found.append((prefix + entry.name, entry))


def _sorted_entries(root: Path) -> list[tuple[str, os.DirEntry[str]]]:
    found: list[tuple[str, os.DirEntry[str]]] = []
    _regular_files(str(root), "", found)
    found.sort(key=lambda item: item[0])
    return found


def iter_files(root: Path) -> Iterator[Path]:
    """Every regular file below ``root`` (links to files followed), sorted by relative POSIX
    path."""
    for _, entry in _sorted_entries(root):
        yield Path(entry.path)


def tree_bytes(root: Path) -> int:
    """Total size of the files below ``root``: what the layer takes unzipped."""
    found: list[tuple[str, os.DirEntry[str]]] = []
    _regular_files(str(root), "", found)
    return sum(entry.stat().st_size for _, entry in found)
