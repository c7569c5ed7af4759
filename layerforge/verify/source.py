"""The entries of a layer zip, a layer folder, or wheels, read in place (never extracted).

Every read is bounded: targets must be regular files or folders (a FIFO or /dev/zero is refused,
never opened), a zip may not declare more entries than any layer could have, a link's target is
read only as far as a path can go, and members are read only as far as a rule needs. A member
that cannot be read (corrupt data, a CRC error, no permission) raises ``MemberError``, which the
rules turn into a finding for that file.

A wheel is listed as pip and uv install it: members under ``python/`` (``*.data/purelib`` and
``platlib`` unpacked), each tagged with the wheel's file name, and a symlink member as the
regular file they write for it, holding the link's target (its ``link_target`` says so).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import struct
import threading
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Protocol

from layerforge.errors import UsageError

__all__ = ["Entry", "LayerSource", "MemberError", "open_source"]

_WHEEL_DATA = re.compile(r"^[^/]+\.data/(purelib|platlib)/")
#: No Lambda layer (250 MB unzipped) holds anywhere near this many entries.
MAX_ENTRIES = 200_000
_LINK_TARGET_BYTES = 4096
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


class MemberError(ValueError):
    """One member could not be read; the message says why."""


@dataclass(frozen=True)
class Entry:
    """One member as Lambda would place it below ``/opt`` (e.g. ``python/numpy/__init__.py``)."""

    path: str
    size: int
    mode: int
    link_target: str | None = None
    origin: str = ""
    problem: str | None = None  # why a folder's entry could not be listed or read
    wheel: str | None = None  # the file name of the wheel it is a member of

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


def _declared_entries(path: Path) -> int:
    """The entry count a zip's end-of-central-directory record declares (0 if none found)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 65_557))
        tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return 0
    (count,) = struct.unpack("<H", tail[at + 10 : at + 12])
    locator = tail.rfind(b"PK\x06\x06")
    if count == 0xFFFF and locator >= 0 and len(tail) >= locator + 40:
        (count,) = struct.unpack("<Q", tail[locator + 32 : locator + 40])
    return int(count)


class ZipSource:
    """A layer zip, or a wheel mapped under ``python/`` as pip would install it."""

    def __init__(self, path: Path, *, as_wheel: bool = False) -> None:
        self.name = str(path)
        self.zipped_bytes: int | None = path.stat().st_size
        self._as_wheel = as_wheel
        try:
            declared = _declared_entries(path)
            if declared > MAX_ENTRIES:
                raise UsageError(
                    f"{path} declares {declared:,} entries; no Lambda layer has "
                    f"more than {MAX_ENTRIES:,}",
                    hint="this is not a layer zip",
                )
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise UsageError(
                f"{path} is not a readable zip: {exc}",
                hint="give a layer zip, a layer folder or wheels",
            ) from None
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

    def _link_target(self, info: zipfile.ZipInfo) -> str:
        try:
            with self._zip.open(info) as handle:
                return handle.read(_LINK_TARGET_BYTES).decode("utf-8", "replace")
        except _READ_ERRORS:
            return "<unreadable link target>"

    def entries(self) -> list[Entry]:
        wheel = Path(self.name).name if self._as_wheel else None
        found = []
        for info in self._zip.infolist():
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            path = self._placed(info.filename)
            self._members[path] = info
            entry = Entry(path, info.file_size, mode, origin=self.name, wheel=wheel)
            if entry.is_link:
                entry = replace(entry, link_target=self._link_target(info))
                if wheel is not None:  # pip and uv write a file holding the target's name
                    entry = replace(entry, mode=stat.S_IFREG | stat.S_IMODE(mode))
            found.append(entry)
        return found

    def read(self, entry: Entry, limit: int = -1) -> bytes:
        try:
            with self._zip.open(self._members[entry.path]) as handle:
                return handle.read(limit)
        except _READ_ERRORS as exc:
            raise MemberError(f"corrupt or unreadable member: {exc}") from None

    def open(self, entry: Entry) -> IO[bytes]:
        try:
            return self._zip.open(self._members[entry.path])
        except _READ_ERRORS as exc:
            raise MemberError(f"corrupt or unreadable member: {exc}") from None

    def head(self, entry: Entry, size: int) -> bytes:
        """Straight from the member's local header: no ZipExtFile, no CRC, a tiny inflate."""
        info = self._members[entry.path]
        method = info.compress_type
        if info.flag_bits & 0x1 or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return self.read(entry, size)
        wanted = size if method == zipfile.ZIP_STORED else 1024
        try:
            with self._lock:
                self._raw.seek(info.header_offset + 26)
                name_length, extra_length = struct.unpack("<HH", self._raw.read(4))
                self._raw.seek(name_length + extra_length, os.SEEK_CUR)
                data = self._raw.read(min(info.compress_size, wanted))
            if method == zipfile.ZIP_STORED:
                return data[:size]
            return zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, size)
        except (struct.error, zlib.error, OSError, ValueError) as exc:
            raise MemberError(f"corrupt or unreadable member: {exc}") from None


def _open_regular(path: Path) -> IO[bytes]:
    """Open a file that must still be a regular file (never blocks on a FIFO, never follows a
    link that replaced it)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        reason = "a link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise MemberError(f"unreadable: {reason}") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise MemberError("not a regular file")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


class FolderSource:
    """An extracted layer: a folder holding ``python/``, or the ``python`` folder itself."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.zipped_bytes: int | None = None
        self._root = path.parent if path.name == "python" else path
        self._prefix = "python/" if path.name == "python" else ""
        self._files: dict[str, Path] = {}

    def _relative(self, full: Path, base: Path) -> str:
        return self._prefix + full.relative_to(base).as_posix()

    def entries(self) -> list[Entry]:
        found: list[Entry] = []
        problems: dict[str, str] = {}
        base = self._root / self._prefix if self._prefix else self._root

        def unreadable(error: OSError) -> None:
            where = Path(error.filename) if error.filename else base
            relative = self._relative(where, base) + "/" if where != base else "(layer)"
            problems[relative] = f"cannot list this folder: {error.strerror}"

        for folder, dirs, files in os.walk(base, onerror=unreadable):
            for name in sorted(dirs) + sorted(files):
                full = Path(folder) / name
                try:
                    info = full.lstat()
                except OSError as exc:
                    problems[self._relative(full, base)] = f"cannot read: {exc.strerror}"
                    continue
                relative = self._relative(full, base)
                if stat.S_ISDIR(info.st_mode):
                    relative += "/"
                target = str(full.readlink()) if stat.S_ISLNK(info.st_mode) else None
                self._files[relative] = full
                found.append(Entry(relative, info.st_size, info.st_mode, target, self.name))
        listed = {e.path for e in found}
        found = [replace(e, problem=problems[e.path]) if e.path in problems else e for e in found]
        found += [
            Entry(
                path,
                0,
                stat.S_IFDIR if path.endswith("/") else 0,
                origin=self.name,
                problem=problem,
            )
            for path, problem in problems.items()
            if path not in listed
        ]
        return found

    def read(self, entry: Entry, limit: int = -1) -> bytes:
        try:
            with _open_regular(self._files[entry.path]) as handle:
                return handle.read(limit)
        except OSError as exc:
            raise MemberError(f"unreadable: {exc.strerror or exc}") from None

    def head(self, entry: Entry, size: int) -> bytes:
        return self.read(entry, size)

    def open(self, entry: Entry) -> IO[bytes]:
        return _open_regular(self._files[entry.path])

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


def _kind(target: Path) -> str:
    """``file`` or ``folder``; a UsageError for anything else (never opened)."""
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        raise UsageError(f"no such file or folder: {target}", hint="check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror}") from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    raise UsageError(
        f"{target} is not a regular file or folder (a FIFO, device or socket)",
        hint="give a layer zip, a layer folder or wheels",
    )


def open_source(targets: Sequence[Path]) -> LayerSource:
    """The right reader for a layer zip, a folder, or one or more ``.whl`` files."""
    if not targets:
        raise UsageError("nothing to verify", hint="name a layer zip, a folder or wheels")
    kinds = [_kind(t) for t in targets]
    wheels = [t for t, k in zip(targets, kinds, strict=False) if t.suffix == ".whl" and k == "file"]
    if wheels and len(wheels) == len(targets):
        sources = [ZipSource(w, as_wheel=True) for w in wheels]
        return sources[0] if len(sources) == 1 else CombinedSource(sources)
    if len(targets) != 1:
        raise UsageError(
            "give one layer (zip or folder), or only wheels",
            hint="verify each layer with its own verify-abi",
        )
    target = targets[0]
    return FolderSource(target) if kinds[0] == "folder" else ZipSource(target)
