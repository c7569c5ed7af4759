"""Reading ELF facts from an already-open file. Pure: no policy, no printing (as auditwheel).

The loader needs little from a shared object: its machine and class, the dynamic section
(DT_NEEDED, DT_RPATH, DT_RUNPATH) and the version requirements (DT_VERNEED, i.e.
``.gnu.version_r``). ``read_elf_facts`` reads exactly those through the program headers, so it
only decompresses the start of a file where they live. Files it cannot read that way (no
PT_DYNAMIC, tables beyond the loaded segments) are read with pyelftools, whose results the
tests compare with this reader's on every ELF file of a real layer.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

__all__ = [
    "ELF_MAGIC",
    "ElfFacts",
    "find_versioned_requirements",
    "read_elf_facts",
    "read_elf_facts_with_pyelftools",
]

ELF_MAGIC = b"\x7fELF"
_LOADERS = ("ld-linux", "ld64.so")
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 10, 15, 29
_DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
_DYNAMIC_KINDS = {"DT_NEEDED": "needed", "DT_RPATH": "rpath", "DT_RUNPATH": "runpath"}


@dataclass(frozen=True)
class ElfFacts:
    """What the dynamic loader will need from the system to load one ELF file."""

    machine: int
    elf_class: int
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    versioned: tuple[tuple[str, str], ...]  # (library, version name) e.g. (libc.so.6, GLIBC_2.17)


class _Prefix:
    """The bytes of a stream, read only as far as they are asked for."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._data = bytearray()

    def get(self, start: int, size: int) -> bytes:
        end = start + size
        while len(self._data) < end:
            chunk = self._stream.read(max(65536, end - len(self._data)))
            if not chunk:
                raise ValueError("truncated ELF file")
            self._data += chunk
        return bytes(self._data[start:end])

    def consumed(self) -> bytes:
        return bytes(self._data)

    def cstring(self, start: int) -> str:
        end = start
        while True:
            block = self.get(end, 64)
            zero = block.find(b"\0")
            if zero >= 0:
                return self.get(start, end - start + zero).decode("utf-8", "replace")
            end += 64


@dataclass(frozen=True)
class _Layout:
    order: str
    wide: bool

    def unpack(self, buffer: _Prefix, offset: int, fields: str) -> tuple[int, ...]:
        fmt = self.order + fields
        return struct.unpack(fmt, buffer.get(offset, struct.calcsize(fmt)))


def _segments(buffer: _Prefix, layout: _Layout) -> list[tuple[int, int, int, int]]:
    """(type, offset, vaddr, filesz) of each program header."""
    if layout.wide:
        phoff, = layout.unpack(buffer, 32, "Q")  # fmt: skip
        phentsize, phnum = layout.unpack(buffer, 54, "HH")
    else:
        phoff, = layout.unpack(buffer, 28, "I")  # fmt: skip
        phentsize, phnum = layout.unpack(buffer, 42, "HH")
    found = []
    for index in range(phnum):
        at = phoff + index * phentsize
        if layout.wide:
            p_type, _, p_offset, p_vaddr, _, p_filesz = layout.unpack(buffer, at, "IIQQQQ")
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = layout.unpack(buffer, at, "IIIII")
        found.append((p_type, p_offset, p_vaddr, p_filesz))
    return found


def _file_offset(address: int, segments: list[tuple[int, int, int, int]]) -> int:
    for p_type, p_offset, p_vaddr, p_filesz in segments:
        if p_type == _PT_LOAD and p_vaddr <= address < p_vaddr + p_filesz:
            return address - p_vaddr + p_offset
    raise LookupError("address outside the loaded segments")


def _dynamic_tags(
    buffer: _Prefix, layout: _Layout, offset: int, size: int
) -> list[tuple[int, int]]:
    entry = 16 if layout.wide else 8
    tags = []
    for at in range(offset, offset + size, entry):
        tag, value = layout.unpack(buffer, at, "qQ" if layout.wide else "iI")
        if tag == _DT_NULL:
            break
        tags.append((tag, value))
    return tags


def _verneed(
    buffer: _Prefix, layout: _Layout, start: int, count: int, strings: int
) -> Iterator[tuple[str, str]]:
    at = start
    for _ in range(count):
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


def _fast_facts(buffer: _Prefix, machine: int, elf_class: int, layout: _Layout) -> ElfFacts:
    segments = _segments(buffer, layout)
    dynamic = [(o, s) for t, o, _, s in segments if t == _PT_DYNAMIC]
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
    return ElfFacts(
        machine=machine,
        elf_class=elf_class,
        needed=tuple(text(_DT_NEEDED)),
        rpath=paths(_DT_RPATH),
        runpath=paths(_DT_RUNPATH),
        versioned=versioned,
    )


def read_elf_facts(stream: IO[bytes]) -> ElfFacts:
    """The facts of one ELF file; raises ValueError when it is not a readable ELF file."""
    buffer = _Prefix(stream)
    try:
        header = buffer.get(0, 20)
    except ValueError:
        raise ValueError("not an ELF file") from None
    if header[:4] != ELF_MAGIC or header[4] not in (1, 2) or header[5] not in (1, 2):
        raise ValueError("not an ELF file")
    layout = _Layout(order="<" if header[5] == 1 else ">", wide=header[4] == 2)
    (machine,) = struct.unpack(layout.order + "H", header[18:20])
    elf_class = 64 if layout.wide else 32
    try:
        return _fast_facts(buffer, machine, elf_class, layout)
    except (LookupError, KeyError, struct.error, ValueError):
        return read_elf_facts_with_pyelftools(io.BytesIO(buffer.consumed() + stream.read()))


def find_versioned_requirements(elf: ELFFile) -> Iterator[tuple[str, str]]:
    """(library, version) pairs from ``.gnu.version_r`` (DT_VERNEED), loader entries skipped."""
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
    from elftools.elf.dynamic import DynamicSection

    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        for tag in section.iter_tags():
            kind = _DYNAMIC_KINDS.get(tag.entry.d_tag)
            if kind is not None:
                yield kind, str(getattr(tag, kind))


def read_elf_facts_with_pyelftools(stream: IO[bytes]) -> ElfFacts:
    """The same facts through pyelftools' section parser (slower; handles anything valid)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(stream)
        dynamic = list(_dynamic_entries(elf))
        versioned = tuple(find_versioned_requirements(elf))
    except (ELFError, struct.error, ValueError) as exc:
        raise ValueError(f"unreadable ELF file: {exc}") from None
    stream.seek(0)
    header = stream.read(20)
    order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(order + "H", header[18:20])

    def values(kind: str) -> tuple[str, ...]:
        found = [v for k, v in dynamic if k == kind]
        return tuple(part for value in found for part in value.split(":") if part)

    return ElfFacts(
        machine=machine,
        elf_class=elf.elfclass,
        needed=tuple(v for k, v in dynamic if k == "needed"),
        rpath=values("rpath"),
        runpath=values("runpath"),
        versioned=versioned,
    )
