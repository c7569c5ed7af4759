"""Which distribution owns which files of an installed tree, and how many bytes each takes."""

from __future__ import annotations

import csv
import heapq
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from layerforge.builder.post.prune import PYCACHE
from layerforge.filetree import iter_files

__all__ = ["UNATTRIBUTED", "TreeInventory", "distribution_sizes", "tree_inventory"]

UNATTRIBUTED = "(unattributed)"

#: The largest files an inventory keeps by name (what to cut is usually among them).
LARGEST_FILES = 50


def _owners(tree: Path) -> dict[str, str]:
    """Top-level names (``numpy``, ``numpy.libs``, ``pylab.py``) -> canonical distribution name."""
    owners: dict[str, str] = {}
    for record in sorted(tree.glob("*.dist-info/RECORD")):
        distribution = canonicalize_name(record.parent.name[: -len(".dist-info")].rsplit("-", 1)[0])
        owners[record.parent.name] = distribution
        with record.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if row:
                    owners.setdefault(row[0].split("/", 1)[0], distribution)
    return owners


def _top_level_key(relative: Path) -> str:
    if len(relative.parts) == 2 and relative.parts[0] == "__pycache__":
        return relative.parts[1].split(".", 1)[0] + ".py"
    return relative.parts[0]


def _shared_library(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


@dataclass
class TreeInventory:
    """A tree's bytes: per canonical distribution name, in Python sources (what bytecode
    compiles), in shared libraries (what strip works on), and its largest files."""

    sizes: Counter[str] = field(default_factory=Counter)
    source_bytes: int = 0
    shared_library_bytes: int = 0
    largest: list[tuple[int, str, str]] = field(default_factory=list)  # (bytes, path, owner)

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def add(self, relative: Path, size: int, owner: str) -> None:
        self.sizes[owner] += size
        if relative.suffix == ".py":
            self.source_bytes += size
        elif _shared_library(relative.name):
            self.shared_library_bytes += size
        entry = (size, relative.as_posix(), owner)
        if len(self.largest) < LARGEST_FILES:
            heapq.heappush(self.largest, entry)
        else:
            heapq.heappushpop(self.largest, entry)

    def largest_files(self) -> list[tuple[str, int, str]]:
        """(path, bytes, distribution), largest first."""
        return [(path, size, owner) for size, path, owner in sorted(self.largest, reverse=True)]


def tree_inventory(tree: Path, *, without_bytecode: bool = False) -> TreeInventory:
    """Every file of ``tree`` counted once; ``without_bytecode`` leaves out ``__pycache__``
    (while bytecode is being compiled into the tree, its files are not final)."""
    owners = _owners(tree)
    inventory = TreeInventory()
    for path in iter_files(tree):
        relative = path.relative_to(tree)
        if without_bytecode and PYCACHE in relative.parts[:-1]:
            continue
        owner = owners.get(_top_level_key(relative), UNATTRIBUTED)
        inventory.add(relative, path.stat().st_size, owner)
    return inventory


def distribution_sizes(tree: Path) -> dict[str, int]:
    """Unzipped bytes per canonical distribution name."""
    return dict(tree_inventory(tree).sizes)
