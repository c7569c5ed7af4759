"""Reading ELF facts from an already-open file. Pure: no policy, no printing (as auditwheel).

The loader needs little from a shared object: its machine and class, the dynamic section
(DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME) and the version requirements (DT_VERNEED, i.e.
``.gnu.version_r``). ``read_elf_facts`` reads exactly those through the program headers, so it
only decompresses the start of a file where they live. Files it cannot read that way (no
PT_DYNAMIC, tables beyond the loaded segments) are read with pyelftools, whose results the
tests compare with this reader's on every ELF file of a real layer.

Every read is bounded by the file's declared size: a file that claims structures beyond its
end is truncated (the loader would refuse it, or crash the process with SIGBUS), and no garbage
offset makes the reader consume more than the file holds.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

__all__ = [
    "ELF_MAGIC",
    "ElfFacts",
    "find_versioned_requirements",
    "read_elf_facts",
    "read_elf_facts_with_pyelftools",
    "read_imported_symbols",
]

ELF_MAGIC = b"\x7fELF"
_LOADERS = ("ld-linux", "ld64.so")
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 14, 15, 29
_DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
_DYNAMIC_KINDS = {
    "DT_NEEDED": "needed",
    "DT_RPATH": "rpath",
    "DT_RUNPATH": "runpath",
    "DT_SONAME": "soname",
}
#: Spooled to disk beyond this, so a huge member never sits in memory.
_SPOOL_BYTES = 16 * 2**20
#: No ELF file in a Lambda layer can be larger than the layer budget.
_MAX_ELF_BYTES = 262_144_000
_MAX_TABLE_ENTRIES = 100_000


@dataclass(frozen=True)
class ElfFacts:
    """What the dynamic loader will need from the system to load one ELF file."""

    machine: int
    elf_class: int
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    versioned: tuple[tuple[str, str], ...]  # (library, version name) e.g. (libc.so.6, GLIBC_2.17)
    soname: str | None = None


class _Prefix:
    """The bytes of a stream, read only as far as they are asked for (never past ``limit``)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._data = bytearray()
        self.limit = limit

    def get(self, start: int, size: int) -> bytes:
        end = start + size
        if start < 0 or size < 0 or end > self.limit:
            raise ValueError(f"truncated ELF file: needs byte {end:,} of {self.limit:,}")
        while len(self._data) < end:
            chunk = self._stream.read(max(65536, end - len(self._data)))
            if not chunk:
                raise ValueError(f"truncated ELF file: ends at byte {len(self._data):,}")
            self._data += chunk
        return bytes(self._data[start:end])

    def consumed(self) -> bytes:
        return bytes(self._data)

    def cstring(self, start: int) -> str:
        end = start
        while True:
            block = self.get(end, min(64, self.limit - end))
            zero = block.find(b"\0")
            if zero >= 0:
                return self.get(start, end - start + zero).decode("utf-8", "replace")
            if not block:
                raise ValueError("truncated ELF file: unterminated string")
            end += len(block)


@dataclass(frozen=True)
class _Layout:
    order: str
    wide: bool

    def unpack(self, buffer: _Prefix, offset: int, fields: str) -> tuple[int, ...]:
        fmt = self.order + fields
        return struct.unpack(fmt, buffer.get(offset, struct.calcsize(fmt)))


@dataclass(frozen=True)
class _Header:
    kind: int
    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int


def _header(buffer: _Prefix, layout: _Layout) -> _Header:
    (kind,) = layout.unpack(buffer, 16, "H")
    if layout.wide:
        phoff, shoff = layout.unpack(buffer, 32, "QQ")
        phentsize, phnum, shentsize, shnum = layout.unpack(buffer, 54, "HHHH")
    else:
        phoff, shoff = layout.unpack(buffer, 28, "II")
        phentsize, phnum, shentsize, shnum = layout.unpack(buffer, 42, "HHHH")
    return _Header(kind, phoff, phentsize, phnum, shoff, shentsize, shnum)


_ET_EXEC, _ET_DYN = 2, 3


def _check_loadable(header: _Header, layout: _Layout) -> None:
    """What the loader checks before it maps anything."""
    if header.kind not in (_ET_EXEC, _ET_DYN):
        kinds = {0: "no file type", 1: "a relocatable object (.o)", 4: "a core dump"}
        raise ValueError(f"not loadable: {kinds.get(header.kind, f'ELF type {header.kind}')}")
    expected = 56 if layout.wide else 32
    if header.phnum and header.phentsize != expected:
        raise ValueError(
            f"corrupt ELF file: program headers of {header.phentsize} bytes, not {expected}"
        )


@dataclass(frozen=True)
class _Segment:
    kind: int
    offset: int
    vaddr: int
    filesz: int
    align: int


#: The page size the loader maps with (4 KiB on Lambda's x86_64 and arm64).
PAGE_SIZE = 4096


def _segments(buffer: _Prefix, layout: _Layout, header: _Header) -> list[_Segment]:
    """Every program header."""
    found = []
    for index in range(min(header.phnum, _MAX_TABLE_ENTRIES)):
        at = header.phoff + index * header.phentsize
        if layout.wide:
            kind, _, offset, vaddr, _, filesz, _, align = layout.unpack(buffer, at, "IIQQQQQQ")
        else:
            kind, offset, vaddr, _, filesz, _, _, align = layout.unpack(buffer, at, "IIIIIIII")
        found.append(_Segment(kind, offset, vaddr, filesz, align))
    return found


def _check_complete(header: _Header, segments: list[_Segment], size: int) -> None:
    """The file holds every byte its headers promise (a truncated .so crashes the importer)."""
    if header.shoff and header.shoff + header.shnum * header.shentsize > size:
        raise ValueError(
            f"truncated ELF file: section headers end at byte "
            f"{header.shoff + header.shnum * header.shentsize:,}, the file has {size:,}"
        )
    for segment in segments:
        end = segment.offset + segment.filesz
        if segment.kind in (_PT_LOAD, _PT_DYNAMIC) and end > size:
            raise ValueError(
                f"truncated ELF file: a segment ends at byte {end:,}, the file has {size:,}"
            )


def _check_aligned(segments: list[_Segment]) -> None:
    """What ld.so checks before mapping: each load segment's address and offset agree modulo
    the page size (a strip after patchelf can break this: "ELF load command address/offset not
    page-aligned")."""
    for segment in segments:
        if segment.kind != _PT_LOAD:
            continue
        if (segment.vaddr - segment.offset) % PAGE_SIZE:
            raise ValueError(
                "not loadable: a load segment's address and file offset are not page-aligned "
                f"(vaddr {segment.vaddr:#x}, offset {segment.offset:#x})"
            )
        if segment.align and segment.align % PAGE_SIZE:
            raise ValueError(
                f"not loadable: load segment alignment {segment.align:#x} is not "
                "a multiple of the page size"
            )


def _file_offset(address: int, segments: list[_Segment]) -> int:
    for segment in segments:
        if segment.kind == _PT_LOAD and segment.vaddr <= address < segment.vaddr + segment.filesz:
            return address - segment.vaddr + segment.offset
    raise LookupError("address outside the loaded segments")


def _dynamic_tags(
    buffer: _Prefix, layout: _Layout, offset: int, size: int
) -> list[tuple[int, int]]:
    entry = 16 if layout.wide else 8
    tags = []
    for at in range(offset, offset + min(size, entry * _MAX_TABLE_ENTRIES), entry):
        tag, value = layout.unpack(buffer, at, "qQ" if layout.wide else "iI")
        if tag == _DT_NULL:
            break
        tags.append((tag, value))
    return tags


def _verneed(
    buffer: _Prefix, layout: _Layout, start: int, count: int, strings: int
) -> Iterator[tuple[str, str]]:
    at = start
    for _ in range(min(count, _MAX_TABLE_ENTRIES)):
        _, aux_count, file_name, aux_offset, next_offset = layout.unpack(buffer, at, "HHIII")
        library = buffer.cstring(strings + file_name)
        aux_at = at + aux_offset
        for _ in range(aux_count):
            _, _, _, name, aux_next = layout.unpack(buffer, aux_at, "IHHII")
            if not library.startswith(_LOADERS):
                yield library, buffer.cstring(strings + name)
            aux_at += aux_next
        if not next_offset:
            break
        at += next_offset


def _fast_facts(
    buffer: _Prefix, machine: int, elf_class: int, layout: _Layout, size: int
) -> ElfFacts:
    header = _header(buffer, layout)
    _check_loadable(header, layout)
    segments = _segments(buffer, layout, header)
    _check_complete(header, segments, size)
    if not any(s.kind == _PT_LOAD for s in segments):
        raise ValueError("corrupt ELF file: no loadable segments")
    _check_aligned(segments)
    dynamic = [(s.offset, s.filesz) for s in segments if s.kind == _PT_DYNAMIC]
    if not dynamic:
        return ElfFacts(machine, elf_class, (), (), (), ())
    tags = _dynamic_tags(buffer, layout, *dynamic[0])
    values = dict(tags)
    strings = _file_offset(values[_DT_STRTAB], segments)

    def text(kind: int) -> list[str]:
        return [buffer.cstring(strings + v) for t, v in tags if t == kind]

    def paths(kind: int) -> tuple[str, ...]:
        return tuple(part for value in text(kind) for part in value.split(":") if part)

    versioned: tuple[tuple[str, str], ...] = ()
    if _DT_VERNEED in values:
        start = _file_offset(values[_DT_VERNEED], segments)
        count = values.get(_DT_VERNEEDNUM, 0)
        versioned = tuple(_verneed(buffer, layout, start, count, strings))
    soname = text(_DT_SONAME)
    return ElfFacts(
        machine=machine,
        elf_class=elf_class,
        needed=tuple(text(_DT_NEEDED)),
        rpath=paths(_DT_RPATH),
        runpath=paths(_DT_RUNPATH),
        versioned=versioned,
        soname=soname[0] if soname else None,
    )


def _spooled(prefix: bytes, stream: IO[bytes], limit: int) -> IO[bytes]:
    """The whole file as a seekable stream, in memory up to 16 MiB and on disk beyond."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned open
    spool.write(prefix)
    remaining = limit - len(prefix)
    while remaining > 0:
        chunk = stream.read(min(1 << 20, remaining))
        if not chunk:
            break
        spool.write(chunk)
        remaining -= len(chunk)
    spool.seek(0)
    return spool


def read_elf_facts(stream: IO[bytes], size: int | None = None) -> ElfFacts:
    """The facts of one ELF file of ``size`` bytes; ValueError when it is not a complete,
    readable ELF file."""
    limit = min(size if size is not None else _MAX_ELF_BYTES, _MAX_ELF_BYTES)
    buffer = _Prefix(stream, limit)
    try:
        header = buffer.get(0, 20)
    except ValueError:
        raise ValueError("not an ELF file (too short)") from None
    if header[:4] != ELF_MAGIC or header[4] not in (1, 2) or header[5] not in (1, 2):
        raise ValueError("not an ELF file (bad header)")
    layout = _Layout(order="<" if header[5] == 1 else ">", wide=header[4] == 2)
    (machine,) = struct.unpack(layout.order + "H", header[18:20])
    elf_class = 64 if layout.wide else 32
    try:
        return _fast_facts(buffer, machine, elf_class, layout, limit)
    except ValueError as exc:
        if str(exc).startswith(("truncated", "not loadable", "corrupt")):
            raise
        fallback = str(exc)
    except (LookupError, KeyError, struct.error, OverflowError) as exc:
        fallback = str(exc)
    with _spooled(buffer.consumed(), stream, limit) as whole:
        try:
            return read_elf_facts_with_pyelftools(whole)
        except ValueError as exc:
            raise ValueError(f"{exc} (and: {fallback})") from None


def find_versioned_requirements(elf: ELFFile) -> Iterator[tuple[str, str]]:
    """(library, version) pairs from ``.gnu.version_r`` (DT_VERNEED), loader entries skipped."""
    # pyelftools (40 ms): the fallback reader only
    from elftools.elf.gnuversions import GNUVerNeedSection

    for section in elf.iter_sections():
        if not isinstance(section, GNUVerNeedSection):
            continue
        for verneed, auxiliaries in section.iter_versions():
            library = str(verneed.name)
            if library.startswith(_LOADERS):
                continue
            for aux in auxiliaries:
                yield library, str(aux.name)


def _dynamic_entries(elf: ELFFile) -> Iterator[tuple[str, str]]:
    from elftools.elf.dynamic import DynamicSection  # pyelftools (40 ms): the fallback reader only

    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        for tag in section.iter_tags():
            kind = _DYNAMIC_KINDS.get(tag.entry.d_tag)
            if kind is not None:
                yield kind, str(getattr(tag, kind))


def _parse_with_pyelftools(stream: IO[bytes]) -> tuple[Any, list[tuple[str, str]], tuple[Any, ...]]:
    from elftools.elf.elffile import ELFFile  # pyelftools (40 ms): the fallback reader only

    elf = ELFFile(stream)
    return elf, list(_dynamic_entries(elf)), tuple(find_versioned_requirements(elf))


def read_elf_facts_with_pyelftools(stream: IO[bytes]) -> ElfFacts:
    """The same facts through pyelftools' section parser (slower; handles anything valid)."""
    try:
        elf, dynamic, versioned = _parse_with_pyelftools(stream)
    except Exception as exc:  # a parser of untrusted bytes: whatever it raises, the file is bad
        raise ValueError(f"unreadable ELF file: {type(exc).__name__}: {exc}") from None
    stream.seek(0)
    header = stream.read(20)
    order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(order + "H", header[18:20])

    def values(kind: str) -> tuple[str, ...]:
        found = [v for k, v in dynamic if k == kind]
        return tuple(part for value in found for part in value.split(":") if part)

    soname = [v for k, v in dynamic if k == "soname"]
    return ElfFacts(
        machine=machine,
        elf_class=int(elf.elfclass),
        needed=tuple(v for k, v in dynamic if k == "needed"),
        rpath=values("rpath"),
        runpath=values("runpath"),
        versioned=versioned,
        soname=soname[0] if soname else None,
    )


def read_imported_symbols(stream: IO[bytes], size: int) -> frozenset[str]:
    """Names of the undefined (imported) dynamic symbols; empty when they cannot be read."""
    # pyelftools (40 ms): the fallback reader only
    from elftools.elf.sections import SymbolTableSection

    with _spooled(b"", stream, min(size, _MAX_ELF_BYTES)) as whole:
        try:
            elf, _, _ = _parse_with_pyelftools(whole)
            table = elf.get_section_by_name(".dynsym")
            if not isinstance(table, SymbolTableSection):
                return frozenset()
            return frozenset(
                str(symbol.name)
                for symbol in table.iter_symbols()
                if symbol["st_shndx"] == "SHN_UNDEF" and symbol.name
            )
        except Exception:  # unreadable symbols: the other rules already judge this file
            return frozenset()
