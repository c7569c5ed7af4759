"""The entries of a layer zip, a layer folder, or wheels, read in place (never extracted)."""

from __future__ import annotations

import os
import re
import stat
import struct
import threading
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from layerforge.errors import UsageError

__all__ = ["Entry", "LayerSource", "open_source"]

_WHEEL_DATA = re.compile(r"^[^/]+\.data/(purelib|platlib)/")


@dataclass(frozen=True)
class Entry:
    """One member as Lambda would place it below ``/opt`` (e.g. ``python/numpy/__init__.py``)."""

    path: str
    size: int
    mode: int
    link_target: str | None = None
    origin: str = ""

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode) or self.path.endswith("/")

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_regular(self) -> bool:
        return not self.is_dir and not self.is_link and stat.S_IFMT(self.mode) in (0, stat.S_IFREG)


class LayerSource(Protocol):
    """Something whose entries can be listed and read without extracting it."""

    name: str
    zipped_bytes: int | None

    def entries(self) -> list[Entry]: ...

    def read(self, entry: Entry, limit: int = -1) -> bytes: ...

    def head(self, entry: Entry, size: int) -> bytes:
        """The first ``size`` bytes (for magic numbers), as cheaply as the format allows."""
        ...

    def open(self, entry: Entry) -> IO[bytes]: ...

    def close(self) -> None: ...


class ZipSource:
    """A layer zip, or a wheel mapped under ``python/`` as pip would install it."""

    def __init__(self, path: Path, *, as_wheel: bool = False) -> None:
        self.name = str(path)
        self.zipped_bytes: int | None = path.stat().st_size
        self._as_wheel = as_wheel
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UsageError(f"{path} is not a readable zip: {exc}") from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._raw = path.open("rb")
        self._lock = threading.Lock()

    def close(self) -> None:
        self._zip.close()
        self._raw.close()

    def _placed(self, name: str) -> str:
        if not self._as_wheel:
            return name
        return "python/" + _WHEEL_DATA.sub("", name)

    def entries(self) -> list[Entry]:
        found = []
        for info in self._zip.infolist():
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            path = self._placed(info.filename)
            self._members[path] = info
            entry = Entry(path, info.file_size, mode, origin=self.name)
            if entry.is_link:
                target = self._zip.read(info).decode("utf-8", "replace")
                entry = Entry(path, info.file_size, mode, target, self.name)
            found.append(entry)
        return found

    def read(self, entry: Entry, limit: int = -1) -> bytes:
        with self._zip.open(self._members[entry.path]) as handle:
            return handle.read(limit)

    def open(self, entry: Entry) -> IO[bytes]:
        return self._zip.open(self._members[entry.path])

    def head(self, entry: Entry, size: int) -> bytes:
        """Straight from the member's local header: no ZipExtFile, no CRC, a tiny inflate."""
        info = self._members[entry.path]
        method = info.compress_type
        if info.flag_bits & 0x1 or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return self.read(entry, size)
        wanted = size if method == zipfile.ZIP_STORED else 1024
        with self._lock:
            self._raw.seek(info.header_offset + 26)
            name_length, extra_length = struct.unpack("<HH", self._raw.read(4))
            self._raw.seek(name_length + extra_length, os.SEEK_CUR)
            data = self._raw.read(min(info.compress_size, wanted))
        if method == zipfile.ZIP_STORED:
            return data[:size]
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, size)


class FolderSource:
    """An extracted layer: a folder holding ``python/``, or the ``python`` folder itself."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.zipped_bytes: int | None = None
        self._root = path.parent if path.name == "python" else path
        self._prefix = "python/" if path.name == "python" else ""
        self._files: dict[str, Path] = {}

    def entries(self) -> list[Entry]:
        found = []
        base = self._root / self._prefix if self._prefix else self._root
        for folder, dirs, files in os.walk(base):
            for name in sorted(dirs) + sorted(files):
                full = Path(folder) / name
                info = full.lstat()
                relative = self._prefix + full.relative_to(base).as_posix()
                if stat.S_ISDIR(info.st_mode):
                    relative += "/"
                target = str(full.readlink()) if stat.S_ISLNK(info.st_mode) else None
                self._files[relative] = full
                found.append(Entry(relative, info.st_size, info.st_mode, target, self.name))
        return found

    def read(self, entry: Entry, limit: int = -1) -> bytes:
        with self._files[entry.path].open("rb") as handle:
            return handle.read(limit)

    def head(self, entry: Entry, size: int) -> bytes:
        return self.read(entry, size)

    def open(self, entry: Entry) -> IO[bytes]:
        return self._files[entry.path].open("rb")

    def close(self) -> None:
        return None


class CombinedSource:
    """Several wheels checked together, as one would-be layer."""

    def __init__(self, sources: Sequence[ZipSource]) -> None:
        self.name = ", ".join(s.name for s in sources)
        self.zipped_bytes: int | None = sum(s.zipped_bytes or 0 for s in sources)
        self._sources = {s.name: s for s in sources}

    def entries(self) -> list[Entry]:
        return [entry for source in self._sources.values() for entry in source.entries()]

    def read(self, entry: Entry, limit: int = -1) -> bytes:
        return self._sources[entry.origin].read(entry, limit)

    def head(self, entry: Entry, size: int) -> bytes:
        return self._sources[entry.origin].head(entry, size)

    def open(self, entry: Entry) -> IO[bytes]:
        return self._sources[entry.origin].open(entry)

    def close(self) -> None:
        for source in self._sources.values():
            source.close()


def open_source(targets: Sequence[Path]) -> LayerSource:
    """The right reader for a layer zip, a folder, or one or more ``.whl`` files."""
    if not targets:
        raise UsageError("nothing to verify", hint="name a layer zip, a folder or wheels")
    missing = [str(t) for t in targets if not t.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    wheels = [t for t in targets if t.suffix == ".whl"]
    if wheels and len(wheels) == len(targets):
        sources = [ZipSource(w, as_wheel=True) for w in wheels]
        return sources[0] if len(sources) == 1 else CombinedSource(sources)
    if len(targets) != 1:
        raise UsageError("give one layer (zip or folder), or only wheels")
    target = targets[0]
    return FolderSource(target) if target.is_dir() else ZipSource(target)
