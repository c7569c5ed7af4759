"""A deterministic layer zip: the same tree always gives the same bytes and the same sha256."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from layerforge.builder.tree import iter_files
from layerforge.events import Event, EventKind, EventSink

__all__ = ["ArchiveInfo", "sha256_of", "write_layer_zip"]

#: Zip cannot store times before 1980; every entry gets this one.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_UNIX = 3


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    file_count: int


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
    executable = mode & stat.S_IXUSR
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    info.create_system = _UNIX
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_layer_zip(
    tree: Path, destination: Path, *, prefix: str = "python", sink: EventSink
) -> ArchiveInfo:
    """Zip ``tree`` under ``prefix/`` (or at the root for ""): sorted entries, fixed times,
    normalised permissions."""
    files = list(iter_files(tree))
    unzipped = 0
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for number, path in enumerate(files, start=1):
            relative = path.relative_to(tree).as_posix()
            name = f"{prefix}/{relative}" if prefix else relative
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(_entry(name, path.stat().st_mode), data, compresslevel=6)
            if number % 200 == 0 or number == len(files):
                sink(Event(EventKind.PROGRESS, "zip", name, number, len(files)))
    return ArchiveInfo(
        path=destination,
        sha256=sha256_of(destination),
        zipped_bytes=destination.stat().st_size,
        unzipped_bytes=unzipped,
        file_count=len(files),
    )
