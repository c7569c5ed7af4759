"""Which distribution owns which files of an installed tree, and how many bytes each takes."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from packaging.utils import canonicalize_name

from layerforge.filetree import iter_files

__all__ = ["UNATTRIBUTED", "distribution_sizes"]

UNATTRIBUTED = "(unattributed)"


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


def distribution_sizes(tree: Path) -> dict[str, int]:
    """Unzipped bytes per canonical distribution name."""
    owners = _owners(tree)
    sizes: Counter[str] = Counter()
    for path in iter_files(tree):
        key = _top_level_key(path.relative_to(tree))
        sizes[owners.get(key, UNATTRIBUTED)] += path.stat().st_size
    return dict(sizes)
