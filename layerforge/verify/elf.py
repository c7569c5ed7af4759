"""Reading ELF facts from an already-open file. Pure: no policy, no printing (as auditwheel).

The loader needs little from a shared object: its identification (class, byte order, OS ABI),
its type, the dynamic section (DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_FLAGS_1, the
DT_RELR tags) and the symbol versions it requires (DT_VERNEED, ``.gnu.version_r``) and defines
(DT_VERDEF, ``.gnu.version_d``). ``read_elf_facts`` reads exactly those through the program
headers. Files it cannot read that way (tables beyond the loaded segments) are read with
pyelftools, whose results the tests compare with this reader's on every ELF file of a real
layer.

Reads are bounded by what they need, never by a size budget: the start of a file (where the
string and version tables usually live) is kept in memory up to 16 MiB, anything further (a
large library's dynamic section, the tables patchelf moved to the end) is read by seeking to
it, a few windows of 4 MiB at a time. A file that claims structures beyond its
end is truncated (the loader would refuse it, or crash the process with SIGBUS); whether a file
is too large for a layer is the size rule's question.
"""

from __future__ import annotations

import struct
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

__all__ = [
    "ELF_MAGIC",
    "MAX_ELF_BYTES",
    "ElfFacts",
    "Ident",
    "UndefinedSymbol",
    "WeakNeed",
    "find_versioned_requirements",
    "read_elf_facts",
    "read_elf_facts_with_pyelftools",
    "read_imported_symbols",
    "read_undefined_symbols",
]

ELF_MAGIC = b"\x7fELF"
_LOADERS = ("ld-linux", "ld64.so")
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 14, 15, 29
_DT_RELRSZ, _DT_RELR, _DT_RELRENT = 35, 36, 37
_DT_FLAGS_1 = 0x6FFFFFFB
_DT_VERDEF, _DT_VERDEFNUM = 0x6FFFFFFC, 0x6FFFFFFD
_DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
_RELR_TAGS = frozenset({_DT_RELRSZ, _DT_RELR, _DT_RELRENT})
#: vna_flags bit: a requirement the loader does not insist on (glibc's match_symbol).
VER_FLG_WEAK = 0x2
_DYNAMIC_KINDS = {
    "DT_NEEDED": "needed",
    "DT_RPATH": "rpath",
    "DT_RUNPATH": "runpath",
    "DT_SONAME": "soname",
}
#: Spooled to disk beyond this, so a huge member never sits in memory.
_SPOOL_BYTES = 16 * 2**20
#: The start of a file kept in memory; anything beyond is read by seeking, in windows.
_PREFIX_BYTES = 16 * 2**20
_WINDOW_BYTES, _WINDOWS = 4 * 2**20, 4
#: Not read at all beyond this (16 times the Lambda budget): inflating a zip member that far
#: to reach its tables would take minutes, and no layer can hold it anyway.
MAX_ELF_BYTES = 4 * 2**30
_MAX_TABLE_ENTRIES = 100_000


@dataclass(frozen=True)
class Ident:
    """The header fields ld.so compares before it maps anything (glibc's ``open_verify``)."""

    byte_order: str = "little"  # EI_DATA
    ident_version: int = 1  # EI_VERSION
    osabi: int = 0  # EI_OSABI
    abi_version: int = 0  # EI_ABIVERSION
    padding_clean: bool = True  # EI_PAD is all zero
    version: int = 1  # e_version
    kind: int = 3  # e_type: 2 ET_EXEC, 3 ET_DYN


class WeakNeed(NamedTuple):
    """A version requirement flagged VER_FLG_WEAK, with the index its symbols refer to."""

    library: str
    version: str
    version_index: int  # vna_other: what .gnu.version entries of its symbols hold


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
    ident: Ident = Ident()
    flags_1: int = 0  # DT_FLAGS_1 (DF_1_PIE, DF_1_NOOPEN ...)
    dynamic: bool = True  # has a PT_DYNAMIC segment
    interpreter: bool = False  # has PT_INTERP: started by the system's ld.so (not static)
    relr: bool = False  # DT_RELR, DT_RELRSZ or DT_RELRENT present
    weak: tuple[WeakNeed, ...] = ()  # requirements flagged VER_FLG_WEAK (not in ``versioned``)
    definitions: tuple[str, ...] | None = None  # DT_VERDEF names; None without DT_VERDEF


class _Reader:
    """The bytes of a file by offset, never past ``limit``: its start is kept in memory (read
    as far as it is asked for); beyond ``_PREFIX_BYTES``, windows of 4 MiB are read where they
    are asked for and the last few kept (patchelf moves .dynamic, .dynstr and the version
    tables of a library it rewrites to its end, side by side: one window serves them all, and a
    zip member is not inflated again from its start for each string)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._prefix = bytearray()
        self._windows: list[tuple[int, bytes]] = []
        self._position = 0
        self._seekable = stream.seekable()
        self.limit = limit

    def _read_at(self, start: int, size: int) -> bytes:
        if start != self._position:
            self._stream.seek(start)
        data = self._stream.read(size)
        self._position = start + len(data)
        return data

    def _fill(self, end: int) -> None:
        while len(self._prefix) < end:
            want = max(65536, end - len(self._prefix))
            chunk = self._read_at(len(self._prefix), want)
            if not chunk:
                raise ValueError(f"truncated ELF file: ends at byte {len(self._prefix):,}")
            self._prefix += chunk

    def get(self, start: int, size: int) -> bytes:
        end = start + size
        if start < 0 or size < 0 or end > self.limit:
            raise ValueError(f"truncated ELF file: needs byte {end:,} of {self.limit:,}")
        if end <= _PREFIX_BYTES or not self._seekable:
            self._fill(end)
            return bytes(self._prefix[start:end])
        for base, window in self._windows:
            if base <= start and end <= base + len(window):
                return window[start - base : end - base]
        window = self._read_at(start, min(max(size, _WINDOW_BYTES), self.limit - start))
        if len(window) < size:
            raise ValueError(f"truncated ELF file: ends before byte {end:,}")
        self._windows = [(start, window), *self._windows[: _WINDOWS - 1]]
        return window[:size]

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

    def unpack(self, buffer: _Reader, offset: int, fields: str) -> tuple[int, ...]:
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


def _header(buffer: _Reader, layout: _Layout) -> _Header:
    (kind,) = layout.unpack(buffer, 16, "H")
    if layout.wide:
        phoff, shoff = layout.unpack(buffer, 32, "QQ")
        phentsize, phnum, shentsize, shnum = layout.unpack(buffer, 54, "HHHH")
    else:
        phoff, shoff = layout.unpack(buffer, 28, "II")
        phentsize, phnum, shentsize, shnum = layout.unpack(buffer, 42, "HHHH")
    return _Header(kind, phoff, phentsize, phnum, shoff, shentsize, shnum)


def _identify(header: bytes) -> tuple[_Layout, int, Ident]:
    """Layout, machine and identification from the first 24 bytes (ValueError if not ELF)."""
    if len(header) < 24:
        raise ValueError("not an ELF file (too short)")
    if header[:4] != ELF_MAGIC or header[4] not in (1, 2) or header[5] not in (1, 2):
        raise ValueError("not an ELF file (bad header)")
    layout = _Layout(order="<" if header[5] == 1 else ">", wide=header[4] == 2)
    kind, machine, version = struct.unpack(layout.order + "HHI", header[16:24])
    ident = Ident(
        byte_order="little" if header[5] == 1 else "big",
        ident_version=header[6],
        osabi=header[7],
        abi_version=header[8],
        padding_clean=not any(header[9:16]),
        version=version,
        kind=kind,
    )
    return layout, machine, ident


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


def _segments(buffer: _Reader, layout: _Layout, header: _Header) -> list[_Segment]:
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
    buffer: _Reader, layout: _Layout, offset: int, size: int
) -> list[tuple[int, int]]:
    entry = 16 if layout.wide else 8
    tags = []
    for at in range(offset, offset + min(size, entry * _MAX_TABLE_ENTRIES), entry):
        tag, value = layout.unpack(buffer, at, "qQ" if layout.wide else "iI")
        if tag == _DT_NULL:
            break
        tags.append((tag, value))
    return tags


class _Need(NamedTuple):
    library: str
    version: str
    flags: int
    other: int  # vna_other


def _verneed(
    buffer: _Reader, layout: _Layout, start: int, count: int, strings: int
) -> Iterator[_Need]:
    at = start
    for _ in range(min(count, _MAX_TABLE_ENTRIES)):
        record, aux_count, file_name, aux_offset, next_offset = layout.unpack(buffer, at, "HHIII")
        if record != 1:  # glibc: "unsupported version N of Verneed record"
            raise ValueError(f"corrupt ELF file: a version requirement record of version {record}")
        library = buffer.cstring(strings + file_name)
        aux_at = at + aux_offset
        for _ in range(min(aux_count, _MAX_TABLE_ENTRIES)):
            _, flags, other, name, aux_next = layout.unpack(buffer, aux_at, "IHHII")
            if not library.startswith(_LOADERS):
                yield _Need(library, buffer.cstring(strings + name), flags, other)
            aux_at += aux_next
        if not next_offset:
            break
        at += next_offset


def _verdef(
    buffer: _Reader, layout: _Layout, start: int, count: int, strings: int
) -> Iterator[str]:
    """The names of the versions a library defines (its own soname, the base, included)."""
    at = start
    for _ in range(min(count, _MAX_TABLE_ENTRIES)):
        record, _, _, aux_count, _, aux_offset, next_offset = layout.unpack(buffer, at, "HHHHIII")
        if record != 1:  # glibc: "unsupported version N of Verdef record"
            raise ValueError(f"corrupt ELF file: a version definition record of version {record}")
        if aux_count:
            (name,) = layout.unpack(buffer, at + aux_offset, "I")
            yield buffer.cstring(strings + name)
        if not next_offset:
            break
        at += next_offset


def _split(needs: list[_Need]) -> tuple[tuple[tuple[str, str], ...], tuple[WeakNeed, ...]]:
    """Requirements the loader insists on, and the weak ones (with their version index)."""
    strong = tuple((n.library, n.version) for n in needs if not n.flags & VER_FLG_WEAK)
    weak = tuple(WeakNeed(n.library, n.version, n.other) for n in needs if n.flags & VER_FLG_WEAK)
    return strong, weak


def _fast_facts(buffer: _Reader, machine: int, ident: Ident, layout: _Layout) -> ElfFacts:
    header = _header(buffer, layout)
    _check_loadable(header, layout)
    segments = _segments(buffer, layout, header)
    _check_complete(header, segments, buffer.limit)
    if not any(s.kind == _PT_LOAD for s in segments):
        raise ValueError("corrupt ELF file: no loadable segments")
    _check_aligned(segments)
    elf_class = 64 if layout.wide else 32
    dynamic = [(s.offset, s.filesz) for s in segments if s.kind == _PT_DYNAMIC]
    interpreter = any(s.kind == _PT_INTERP for s in segments)
    if not dynamic:
        return ElfFacts(
            machine, elf_class, (), (), (), (), ident=ident, dynamic=False, interpreter=interpreter
        )
    tags = _dynamic_tags(buffer, layout, *dynamic[0])
    values = dict(tags)
    strings = _file_offset(values[_DT_STRTAB], segments)

    def text(kind: int) -> list[str]:
        return [buffer.cstring(strings + v) for t, v in tags if t == kind]

    def paths(kind: int) -> tuple[str, ...]:
        return tuple(part for value in text(kind) for part in value.split(":") if part)

    needs: list[_Need] = []
    if _DT_VERNEED in values:
        start = _file_offset(values[_DT_VERNEED], segments)
        count = values.get(_DT_VERNEEDNUM, 0)
        needs = list(_verneed(buffer, layout, start, count, strings))
    definitions = None
    if _DT_VERDEF in values:
        start = _file_offset(values[_DT_VERDEF], segments)
        count = values.get(_DT_VERDEFNUM, 0)
        definitions = tuple(_verdef(buffer, layout, start, count, strings))
    versioned, weak = _split(needs)
    soname = text(_DT_SONAME)
    return ElfFacts(
        machine=machine,
        elf_class=elf_class,
        needed=tuple(text(_DT_NEEDED)),
        rpath=paths(_DT_RPATH),
        runpath=paths(_DT_RUNPATH),
        versioned=versioned,
        soname=soname[0] if soname else None,
        ident=ident,
        flags_1=values.get(_DT_FLAGS_1, 0),
        interpreter=interpreter,
        relr=any(tag in _RELR_TAGS for tag, _ in tags),
        weak=weak,
        definitions=definitions,
    )


def _declared_size(stream: IO[bytes], size: int | None) -> int:
    if size is not None:
        return size
    position = stream.tell()
    end = stream.seek(0, 2)
    stream.seek(position)
    return end


@contextmanager
def _whole(stream: IO[bytes], size: int) -> Iterator[IO[bytes]]:
    """The whole file as a stream pyelftools can seek in: a file or buffer as it is, a zip
    member (where every backward seek inflates it again) copied out, in memory up to 16 MiB
    and on disk beyond."""
    if not isinstance(stream, zipfile.ZipExtFile) and stream.seekable():
        stream.seek(0)
        yield stream
        return
    stream.seek(0)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        remaining = size
        while remaining > 0:
            chunk = stream.read(min(1 << 20, remaining))
            if not chunk:
                break
            spool.write(chunk)
            remaining -= len(chunk)
        spool.seek(0)
        yield spool


def read_elf_facts(stream: IO[bytes], size: int | None = None) -> ElfFacts:
    """The facts of one ELF file of ``size`` bytes (the stream's length when not given);
    ValueError when it is not a complete, readable ELF file."""
    limit = _declared_size(stream, size)
    if limit > MAX_ELF_BYTES:
        raise ValueError(
            f"not read: {limit:,} bytes, more than any layer can hold (the size rule judges it)"
        )
    buffer = _Reader(stream, limit)
    try:
        start = buffer.get(0, 24)
    except ValueError:
        raise ValueError("not an ELF file (too short)") from None
    layout, machine, ident = _identify(start)
    try:
        return _fast_facts(buffer, machine, ident, layout)
    except ValueError as exc:
        if str(exc).startswith(("truncated", "not loadable", "corrupt")):
            raise
        fallback = str(exc)
    except (LookupError, KeyError, struct.error, OverflowError) as exc:
        fallback = str(exc)
    with _whole(stream, limit) as whole:
        try:
            return read_elf_facts_with_pyelftools(whole)
        except ValueError as exc:
            raise ValueError(f"{exc} (and: {fallback})") from None


def find_versioned_requirements(elf: ELFFile) -> Iterator[tuple[str, str]]:
    """(library, version) pairs from ``.gnu.version_r`` (DT_VERNEED), loader entries skipped."""
    for need in _pyelftools_needs(elf):
        yield need.library, need.version


def _pyelftools_needs(elf: ELFFile) -> Iterator[_Need]:
    from elftools.elf.gnuversions import GNUVerNeedSection

    for section in elf.iter_sections():
        if not isinstance(section, GNUVerNeedSection):
            continue
        for verneed, auxiliaries in section.iter_versions():
            if verneed["vn_version"] != 1:
                raise ValueError("a version requirement record of another version")
            library = str(verneed.name)
            if library.startswith(_LOADERS):
                continue
            for aux in auxiliaries:
                yield _Need(library, str(aux.name), int(aux["vna_flags"]), int(aux["vna_other"]))


def _pyelftools_definitions(elf: ELFFile) -> tuple[str, ...] | None:
    from elftools.elf.gnuversions import GNUVerDefSection

    found: tuple[str, ...] | None = None
    for section in elf.iter_sections():
        if isinstance(section, GNUVerDefSection):
            names = []
            for verdef, auxiliaries in section.iter_versions():
                if verdef["vd_version"] != 1:
                    raise ValueError("a version definition record of another version")
                first = next(iter(auxiliaries), None)
                if first is not None:
                    names.append(str(first.name))
            found = (*(found or ()), *names)
    return found


def _tag_number(tag: Any) -> int:
    from elftools.elf.enums import ENUM_D_TAG

    value = tag.entry.d_tag
    return int(ENUM_D_TAG.get(value, -1) if isinstance(value, str) else value)


@dataclass(frozen=True)
class _Parsed:
    elf: Any
    dynamic: list[tuple[str, str]]
    numbers: dict[int, int]  # every dynamic tag by number (the last value wins)
    needs: list[_Need]
    definitions: tuple[str, ...] | None


def _parse_with_pyelftools(stream: IO[bytes]) -> _Parsed:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(stream)
    dynamic: list[tuple[str, str]] = []
    numbers: dict[int, int] = {}
    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        for tag in section.iter_tags():
            numbers[_tag_number(tag)] = int(tag.entry.d_val)
            kind = _DYNAMIC_KINDS.get(tag.entry.d_tag)
            if kind is not None:
                dynamic.append((kind, str(getattr(tag, kind))))
    needs = list(_pyelftools_needs(elf))
    return _Parsed(elf, dynamic, numbers, needs, _pyelftools_definitions(elf))


def read_elf_facts_with_pyelftools(stream: IO[bytes]) -> ElfFacts:
    """The same facts through pyelftools' section parser (slower; handles anything valid)."""
    try:
        parsed = _parse_with_pyelftools(stream)
        kinds = {s["p_type"] for s in parsed.elf.iter_segments()}
    except Exception as exc:  # a parser of untrusted bytes: whatever it raises, the file is bad
        raise ValueError(f"unreadable ELF file: {type(exc).__name__}: {exc}") from None
    stream.seek(0)
    _, machine, ident = _identify(stream.read(24))
    dynamic = parsed.dynamic

    def values(kind: str) -> tuple[str, ...]:
        found = [v for k, v in dynamic if k == kind]
        return tuple(part for value in found for part in value.split(":") if part)

    soname = [v for k, v in dynamic if k == "soname"]
    versioned, weak = _split(parsed.needs)
    return ElfFacts(
        machine=machine,
        elf_class=int(parsed.elf.elfclass),
        needed=tuple(v for k, v in dynamic if k == "needed"),
        rpath=values("rpath"),
        runpath=values("runpath"),
        versioned=versioned,
        soname=soname[0] if soname else None,
        ident=ident,
        flags_1=parsed.numbers.get(_DT_FLAGS_1, 0),
        dynamic="PT_DYNAMIC" in kinds,
        interpreter="PT_INTERP" in kinds,
        relr=bool(_RELR_TAGS & set(parsed.numbers)),
        weak=weak,
        definitions=parsed.definitions,
    )


def _version_index(versions: Any, number: int) -> int:
    """The symbol's .gnu.version entry (0 and 1, local and global, are unversioned)."""
    if versions is None:
        return 0
    index = versions.get_symbol(number)["ndx"]
    return int(index) & 0x7FFF if isinstance(index, int) else 0


class UndefinedSymbol(NamedTuple):
    """A dynamic symbol the file imports: its name, binding and the version index it needs."""

    name: str
    weak: bool
    version_index: int  # 0/1: unversioned; otherwise a vna_other of .gnu.version_r


def read_undefined_symbols(stream: IO[bytes], size: int) -> tuple[UndefinedSymbol, ...]:
    """The undefined (imported) dynamic symbols; empty when they cannot be read."""
    from elftools.elf.gnuversions import GNUVerSymSection
    from elftools.elf.sections import SymbolTableSection

    if size > MAX_ELF_BYTES:
        return ()
    with _whole(stream, size) as whole:
        try:
            elf = _parse_with_pyelftools(whole).elf
            table = elf.get_section_by_name(".dynsym")
            if not isinstance(table, SymbolTableSection):
                return ()
            versions = next(
                (s for s in elf.iter_sections() if isinstance(s, GNUVerSymSection)), None
            )
            found = []
            for number, symbol in enumerate(table.iter_symbols()):
                if symbol["st_shndx"] != "SHN_UNDEF" or not symbol.name:
                    continue
                index = _version_index(versions, number)
                weak = symbol["st_info"]["bind"] == "STB_WEAK"
                found.append(UndefinedSymbol(str(symbol.name), weak, index))
            return tuple(found)
        except Exception:  # unreadable symbols: the other rules already judge this file
            return ()


def read_imported_symbols(stream: IO[bytes], size: int) -> frozenset[str]:
    """Names of the undefined (imported) dynamic symbols; empty when they cannot be read."""
    return frozenset(symbol.name for symbol in read_undefined_symbols(stream, size))
