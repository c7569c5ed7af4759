"""A deterministic layer zip: the same tree always gives the same bytes and the same sha256.

Members are deflated in parallel (zlib releases the GIL, so threads use every core) and
written in sorted order by one writer, so the bytes do not depend on the number of workers or
on which finished first: a serial run (``workers=1``) writes the identical file. The format is
plain PKZIP as ``zipfile`` and Lambda's unzip read it: fixed times, normalised modes, deflate
level 6, the UTF-8 flag for non-ASCII names, and ZIP64 end records past 65,535 entries.
"""

from __future__ import annotations

import hashlib
import stat
import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from layerforge.errors import BuildError
from layerforge.events import Event, EventKind, EventSink
from layerforge.filetree import iter_files
from layerforge.interrupts import WorkerPool, check_cancelled
from layerforge.processes import usable_cores

__all__ = ["ArchiveInfo", "sha256_of", "write_layer_zip"]

#: Zip cannot store times before 1980; every entry gets DOS time 0 of 1980-01-01.
_DOS_TIME, _DOS_DATE = 0, (1 << 5) | 1
_LEVEL = 6
_MADE_BY = (3 << 8) | 20  # UNIX, spec 2.0
_NEEDED, _NEEDED_ZIP64 = 20, 45
_UTF8 = 0x800
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_LIMIT32 = 0xFFFFFFFF
_BYTES_IN_FLIGHT = 256 << 20  # files read or deflated but not yet written: bounds memory
_CHUNK = 1 << 20  # deflated between two looks at the cancellation (about 50 ms at level 6)


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    file_count: int


@dataclass(frozen=True)
class _Member:
    name: bytes
    flags: int
    mode: int
    crc: int
    size: int
    data: bytes  # deflated


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _deflate(name: str, path: Path) -> _Member:
    """One member, read and deflated a chunk at a time (the bytes are the same as deflating the
    file in one call: zlib's output does not depend on how its input is split), so an interrupt
    is honoured within a chunk even on the largest library."""
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    pieces: list[bytes] = []
    crc = size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            check_cancelled()
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
            pieces.append(compressor.compress(chunk))
    pieces.append(compressor.flush())
    data = b"".join(pieces)
    if size > _LIMIT32 or len(data) > _LIMIT32:
        raise BuildError(f"{name} is over 4 GiB", hint="no Lambda layer can hold it")
    try:
        encoded, flags = name.encode("ascii"), 0
    except UnicodeEncodeError:
        encoded, flags = name.encode("utf-8"), _UTF8
    executable = path.stat().st_mode & stat.S_IXUSR
    mode = stat.S_IFREG | (0o755 if executable else 0o644)
    return _Member(encoded, flags, mode, crc, size, data)


class _HashingWriter:
    """Writes through to the file, hashing and counting on the way (no second read)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.digest, self.offset = handle, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.offset += len(data)


def _members(entries: list[tuple[str, Path]], workers: int, sink: EventSink) -> Iterator[_Member]:
    """Deflated members in the order of ``entries``, ``workers`` at a time.

    Work is handed out largest first (so no big library is left to compress alone at the end
    while the other cores idle) within a budget of bytes in flight; the member the writer
    needs next is always handed out, so the writer never waits on work not yet started. After
    a signal no member is started, and those being deflated stop within a chunk."""
    total = len(entries)
    if workers <= 1:
        for number, (name, path) in enumerate(entries, start=1):
            yield _deflate(name, path)
            if number % 200 == 0 or number == total:
                sink(Event(EventKind.PROGRESS, "zip", name, number, total))
        return
    sizes = [path.stat().st_size for _, path in entries]
    largest_first = iter(sorted(range(total), key=lambda i: (-sizes[i], i)))
    with WorkerPool(workers, thread_name_prefix="layerforge-zip") as pool:
        started: dict[int, Future[_Member]] = {}
        in_flight = 0

        def start(index: int) -> None:
            nonlocal in_flight
            started[index] = pool.submit(_deflate, *entries[index])
            in_flight += sizes[index]

        for number in range(total):
            while in_flight < _BYTES_IN_FLIGHT:
                index = next(largest_first, None)
                if index is None:
                    break
                if index not in started and index >= number:
                    start(index)
            if number not in started:
                start(number)
            member = started.pop(number).result()
            in_flight -= sizes[number]
            if (number + 1) % 200 == 0 or number + 1 == total:
                sink(Event(EventKind.PROGRESS, "zip", member.name.decode(), number + 1, total))
            yield member


def _shared(member: _Member) -> tuple[int, ...]:
    """The fields the local header and the central directory record both carry, in order:
    flags, method, time, date, CRC-32, compressed size, size, name length."""
    return (
        member.flags,
        zlib.DEFLATED,
        _DOS_TIME,
        _DOS_DATE,
        member.crc,
        len(member.data),
        member.size,
        len(member.name),
    )


def _local(member: _Member) -> bytes:
    return _LOCAL.pack(0x04034B50, _NEEDED, *_shared(member), 0) + member.name


def _central(member: _Member, offset: int) -> bytes:
    fields = (*_shared(member), 0, 0, 0, 0, member.mode << 16, offset)
    return _CENTRAL.pack(0x02014B50, _MADE_BY, _NEEDED, *fields) + member.name


def _end(out: _HashingWriter, count: int, start: int) -> None:
    size = out.offset - start
    if count > 0xFFFF:  # ZIP64 end of central directory record and locator
        end64 = out.offset
        out.write(
            _END64.pack(0x06064B50, 44, _MADE_BY, _NEEDED_ZIP64, 0, 0, count, count, size, start)
        )
        out.write(_LOCATOR64.pack(0x07064B50, 0, end64, 1))
        out.write(_END.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, size, start, 0))
        return
    out.write(_END.pack(0x06054B50, 0, 0, count, count, size, start, 0))


def write_layer_zip(
    tree: Path,
    destination: Path,
    *,
    prefix: str = "python",
    sink: EventSink,
    workers: int | None = None,
) -> ArchiveInfo:
    """Zip ``tree`` under ``prefix/`` (or at the root for ""): sorted entries, fixed times,
    normalised permissions, deflated by ``workers`` threads (default: every core)."""
    entries = []
    for path in iter_files(tree):
        relative = path.relative_to(tree).as_posix()
        entries.append((f"{prefix}/{relative}" if prefix else relative, path))
    central: list[bytes] = []
    unzipped = 0
    with destination.open("wb") as handle:
        out = _HashingWriter(handle)
        for member in _members(entries, workers or usable_cores(), sink):
            offset = out.offset
            if offset > _LIMIT32:
                raise BuildError("the layer zip is over 4 GiB", hint="no Lambda layer can hold it")
            out.write(_local(member))
            out.write(member.data)
            central.append(_central(member, offset))
            unzipped += member.size
        start = out.offset
        for record in central:
            out.write(record)
        _end(out, len(central), start)
    return ArchiveInfo(
        path=destination,
        sha256=out.digest.hexdigest(),
        zipped_bytes=out.offset,
        unzipped_bytes=unzipped,
        file_count=len(entries),
    )
