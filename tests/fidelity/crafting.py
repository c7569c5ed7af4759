"""Building the crafted cases: gcc and binutils at test time, a small struct writer where no
toolchain makes the case (an OS ABI byte, a version flag, a dropped program header), and the
containers they travel in (wheels, layer zips with symlink members, folders with symlinks)."""

from __future__ import annotations

import shutil
import stat
import struct
import subprocess
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "FOO_1",
    "FOO_2",
    "IFUNC",
    "MEMFD_STRONG",
    "MEMFD_WEAK",
    "PLAIN",
    "POINTERS",
    "PROGRAM",
    "USES_FOO",
    "USES_FOO_WEAKLY",
    "Link",
    "aarch64_shared_object",
    "compile_c",
    "drop_dynamic_segment",
    "foo_user",
    "layer_folder",
    "layer_zip",
    "libfoo",
    "set_ident",
    "set_version_flags",
    "wheel",
]

VER_FLG_WEAK = 0x2
_PT_DYNAMIC = 2

PLAIN = "int answer(void){return 42;}\n"
#: A program with no libc at all: linked here against glibc 2.36, a main() would need
#: GLIBC_2.34 (__libc_start_main), a true finding on Amazon Linux 2 but not the case's.
PROGRAM = "void _start(void){for (;;) {}}\n"
#: Pointers to static data: relative relocations (DT_RELR with -z pack-relative-relocs).
POINTERS = (
    "static int t[8]; int *p[4] = {&t[0], &t[1], &t[2], &t[3]};\nint f(void){return *p[1];}\n"
)
#: An IFUNC: ld marks the object EI_OSABI GNU.
IFUNC = (
    "static int one(void){return 1;}\n"
    "static int (*pick(void))(void){return one;}\n"
    'int chosen(void) __attribute__((ifunc("pick")));\n'
)
_MEMFD = "#define _GNU_SOURCE\n#include <sys/mman.h>\n"
#: memfd_create appeared in glibc 2.27, one past Amazon Linux 2's.
MEMFD_STRONG = _MEMFD + 'int f(void){return memfd_create("x", 0);}\n'
MEMFD_WEAK = (
    _MEMFD
    + "extern int memfd_create(const char *, unsigned int) __attribute__((weak));\n"
    + 'int f(void){return memfd_create ? memfd_create("x", 0) : -1;}\n'
)
USES_FOO = "extern int foo(void); int g(void){return foo();}\n"
USES_FOO_WEAKLY = (
    "extern int foo(void) __attribute__((weak));\nint g(void){return foo ? foo() : -1;}\n"
)
#: The versions a build of libfoo.so.1 defines (its version script).
FOO_1 = "FOO_1.0 { global: foo; local: *; };\n"
FOO_2 = "FOO_1.0 { local: *; };\nFOO_2.0 { global: foo; } FOO_1.0;\n"


class Link(NamedTuple):
    """A symbolic link member (in a zip: S_IFLNK in external_attr, the target as its data)."""

    target: str


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is needed to build the fidelity corpus (scripts/test.sh)"
    return found


def compile_c(work: Path, name: str, source: str, *flags: str, shared: bool = True) -> Path:
    """C ``source`` built by the host's gcc: a shared object, or an executable."""
    work.mkdir(parents=True, exist_ok=True)
    c_file = work / f"{name}.c"
    c_file.write_text(source)
    target = work / name
    kind = ["-shared", "-fPIC"] if shared else []
    subprocess.run([_tool("gcc"), *kind, "-o", str(target), str(c_file), *flags], check=True)
    return target


def libfoo(work: Path, script: str | None) -> Path:
    """libfoo.so.1 defining foo in the versions of ``script`` (None: no versions at all),
    in a folder of its own with the libfoo.so a linker looks for."""
    work.mkdir(parents=True, exist_ok=True)
    flags = ["-Wl,-soname,libfoo.so.1"]
    if script is not None:
        (work / "libfoo.map").write_text(script)
        flags.append(f"-Wl,--version-script,{work / 'libfoo.map'}")
    library = compile_c(work, "libfoo.so.1", "int foo(void){return 2;}\n", *flags)
    (work / "libfoo.so").symlink_to("libfoo.so.1")
    return library


def foo_user(work: Path, name: str, source: str, linked: Path) -> Path:
    """An extension linked against ``linked`` (a libfoo.so.1), finding it beside itself."""
    flags = ["-Wl,--no-as-needed", f"-L{linked.parent}", "-lfoo", "-Wl,-rpath,$ORIGIN"]
    return compile_c(work, name, source, *flags)


def aarch64_shared_object(work: Path, name: str, *, big_endian: bool) -> Path:
    """An AArch64 shared object assembled and linked by binutils (no C cross compiler is
    needed, and none exists here for aarch64_be): little-endian as Lambda runs, or big-endian."""
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"{name}.s"
    source.write_text(
        ".text\n.global lf_answer\n.type lf_answer, %function\nlf_answer:\n  mov x0, #42\n  ret\n"
    )
    order = ["-EB"] if big_endian else ["-EL"]
    obj, target = work / f"{name}.o", work / name
    subprocess.run([_tool("aarch64-linux-gnu-as"), *order, "-o", str(obj), str(source)], check=True)
    linker = [_tool("aarch64-linux-gnu-ld"), *order, "-shared", f"-soname={name}"]
    subprocess.run([*linker, "-o", str(target), str(obj)], check=True)
    return target


def set_ident(path: Path, *, osabi: int | None = None, abi_version: int | None = None) -> Path:
    """Rewrite EI_OSABI / EI_ABIVERSION of a built file (no toolchain here targets FreeBSD)."""
    data = bytearray(path.read_bytes())
    if osabi is not None:
        data[7] = osabi
    if abi_version is not None:
        data[8] = abi_version
    path.write_bytes(bytes(data))
    return path


def _sections(data: bytes) -> list[tuple[int, int, int, int]]:
    """(type, offset, size, link) of every section of a little-endian ELF64 file."""
    shoff, shentsize, shnum = (
        struct.unpack_from("<Q", data, 40)[0],
        *struct.unpack_from("<HH", data, 58),
    )
    found = []
    for index in range(shnum):
        at = shoff + index * shentsize
        _, kind, _, _, offset, size, link = struct.unpack_from("<IIQQQQI", data, at)
        found.append((kind, offset, size, link))
    return found


def _string(data: bytes, at: int) -> str:
    return data[at : data.index(b"\0", at)].decode()


def set_version_flags(path: Path, version: str, flags: int) -> Path:
    """Set vna_flags of the requirement on ``version`` in .gnu.version_r (no linker flag makes
    VER_FLG_WEAK for a version that symbols use)."""
    data = bytearray(path.read_bytes())
    sections = _sections(bytes(data))
    _, offset, _, link = next(s for s in sections if s[0] == 0x6FFFFFFE)  # SHT_GNU_verneed
    strings = sections[link][1]
    at, patched = offset, False
    while True:
        _, count, _, aux, following = struct.unpack_from("<HHIII", data, at)
        aux_at = at + aux
        for _ in range(count):
            _, _, _, name, aux_next = struct.unpack_from("<IHHII", data, aux_at)
            if _string(bytes(data), strings + name) == version:
                struct.pack_into("<H", data, aux_at + 4, flags)
                patched = True
            aux_at += aux_next
        if not following:
            break
        at += following
    assert patched, f"{path.name} requires no version {version}"
    path.write_bytes(bytes(data))
    return path


def drop_dynamic_segment(path: Path) -> Path:
    """Turn the PT_DYNAMIC program header into PT_NULL: an ET_DYN object without a dynamic
    section, which no linker writes."""
    data = bytearray(path.read_bytes())
    phoff = struct.unpack_from("<Q", data, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for index in range(phnum):
        at = phoff + index * phentsize
        if struct.unpack_from("<I", data, at)[0] == _PT_DYNAMIC:
            struct.pack_into("<I", data, at, 0)
    path.write_bytes(bytes(data))
    return path


def _member(archive: zipfile.ZipFile, name: str, content: bytes | Link) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.compress_type = zipfile.ZIP_DEFLATED
    if isinstance(content, Link):
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, content.target.encode())
    else:
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(info, content)


def wheel(
    work: Path,
    name: str,
    members: Mapping[str, bytes | Link],
    tag: str,
    *,
    declared: str | None = None,
    requires_python: str | None = None,
) -> Path:
    """A wheel named with ``tag``; its WHEEL says ``declared`` (``tag`` unless given)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{name}-1.0-{tag}.whl"
    dist = f"{name}-1.0.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    if requires_python is not None:
        metadata += f"Requires-Python: {requires_python}\n"
    files: dict[str, bytes | Link] = {
        **members,
        f"{dist}/METADATA": (
            metadata + "\nA description, not headers: Requires-Python: <3\n"
        ).encode(),
        f"{dist}/WHEEL": (
            f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {declared or tag}\n".encode()
        ),
    }
    files[f"{dist}/RECORD"] = ("".join(f"{m},,\n" for m in files) + f"{dist}/RECORD,,\n").encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in files.items():
            _member(archive, member, content)
    return path


def layer_zip(work: Path, name: str, members: Mapping[str, bytes | Link]) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            _member(archive, member, content)
    return path


def layer_folder(work: Path, name: str, members: Mapping[str, bytes | Link]) -> Path:
    root = work / name
    for member, content in members.items():
        target = root / member
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            target.symlink_to(content.target)
        else:
            target.write_bytes(content)
    return root
