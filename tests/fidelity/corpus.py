"""The fidelity corpus: artifacts with the verdict the real loader would give, per target.

Real wheels are fetched from PyPI at test time (cached between runs); crafted cases are compiled
here with gcc (each is one way a binary can fail to load, or seem to fail and still load). Each
case lists, per (runtime, architecture), ``load`` or ``refuse`` with the rule and the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from tests.fidelity.crafting import (
    FOO_1,
    FOO_2,
    IFUNC,
    MEMFD_STRONG,
    MEMFD_WEAK,
    PLAIN,
    POINTERS,
    PROGRAM,
    USES_FOO,
    USES_FOO_WEAKLY,
    VER_FLG_WEAK,
    Link,
    aarch64_shared_object,
    compile_c,
    drop_dynamic_segment,
    foo_user,
    layer_folder,
    layer_zip,
    libfoo,
    set_ident,
    set_version_flags,
    wheel,
)

__all__ = ["CASES", "TARGETS", "Case", "Expected", "Oracle", "artifact"]

TARGETS = [
    ("python3.11", "x86_64"),
    ("python3.12", "x86_64"),
    ("python3.11", "arm64"),
    ("python3.12", "arm64"),
]
WHEEL_CACHE = Path(os.environ.get("LAYERFORGE_FIDELITY_CACHE", "/var/tmp/layerforge-fidelity"))


@dataclass(frozen=True)
class Expected:
    verdict: str  # "load" or "refuse"
    rule: str | None = None  # the rule a refusal must name
    reason: str = ""
    forbidden: tuple[str, ...] = ()  # rules that must not refuse (the wrong reason)


class Oracle(NamedTuple):
    """A real tool's verdict the case claims. ``dlopen``: installed as pip installs it (a
    layer zip: extracted with its links), every extension module dlopened RTLD_NOW, as Python
    imports, by this host's glibc (2.36), in a process of its own; ``dlopen-arm64``: the same by
    the arm64 root filesystem's glibc (2.36, under qemu-user). ``pip``: whether pip selects the
    wheel for ``runtime`` (by its file name's tags)."""

    kind: str
    verdict: str
    runtime: str = ""


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]
    expected: dict[tuple[str, str], Expected]
    wheel: bool = False  # auditwheel can judge it
    notes: str = ""
    warnings: tuple[str, ...] = field(default=())  # rules that must warn (not refuse)
    oracles: tuple[Oracle, ...] = ()


def _download(requirement: str, platform: str, python: str) -> Callable[[Path], Path]:
    def make(_work: Path) -> Path:
        folder = WHEEL_CACHE / f"{requirement}-{platform}-{python}".replace("=", "_")
        found = sorted(folder.glob("*.whl"))
        if found:
            return found[0]
        folder.mkdir(parents=True, exist_ok=True)
        abi = "cp" + python.replace(".", "")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                platform,
                "--python-version",
                python,
                "--implementation",
                "cp",
                "--abi",
                abi,
                "--abi",
                "abi3",
                "--abi",
                "none",
                "-d",
                str(folder),
                requirement,
            ],
            check=True,
            timeout=600,
        )
        return sorted(folder.glob("*.whl"))[0]

    return make


TAG311 = "cp311-cp311-manylinux_2_17_x86_64"
#: abi3 extensions (``.abi3.so``) under a cp311-abi3 tag load on python3.11 and python3.12
#: alike, so one artifact shows what Amazon Linux 2 and 2023 each make of the same binary.
ABI3 = "cp311-abi3-manylinux_2_17_x86_64"


def _crafted(
    name: str,
    source: str,
    *flags: str,
    extra: dict[str, str] | None = None,
    tag: str = TAG311,
    patch: Callable[[Path], object] | None = None,
    declared: str | None = None,
) -> Callable[[Path], Path]:
    """A wheel around one extension module compiled here (and helper libraries beside it)."""

    def make(work: Path) -> Path:
        folder = work / name
        members: dict[str, bytes | Link] = {}
        for helper, helper_source in (extra or {}).items():
            built = compile_c(folder, helper, helper_source, f"-Wl,-soname,{helper}")
            members[f"{name}/{helper}"] = built.read_bytes()
        library = compile_c(folder, f"_{name}.so", source, f"-L{folder}", *flags)
        if patch is not None:
            patch(library)
        suffix = ".abi3.so" if "-abi3-" in tag else ".cpython-311-x86_64-linux-gnu.so"
        members[f"{name}/_{name}{suffix}"] = library.read_bytes()
        members[f"{name}/__init__.py"] = b""
        return wheel(work, name, members, tag, declared=declared)

    return make


def _same(
    verdict: str, rule: str | None = None, reason: str = "", *, arch: str = "x86_64"
) -> dict[tuple[str, str], Expected]:
    return {t: Expected(verdict, rule, reason) for t in TARGETS if t[1] == arch}


def _x86_only(**by_runtime: Expected) -> dict[tuple[str, str], Expected]:
    return {(runtime.replace("_", "."), "x86_64"): e for runtime, e in by_runtime.items()}


ARCH = Expected("refuse", "elf-arch", "x86_64 binaries on arm64")

CASES: list[Case] = [
    Case(
        "numpy-1.26.4-cp311-manylinux2014",
        _download("numpy==1.26.4", "manylinux2014_x86_64", "3.11"),
        {
            ("python3.11", "x86_64"): Expected("load"),
            ("python3.12", "x86_64"): Expected("refuse", "python-abi", "cp311 extension on 3.12"),
            ("python3.11", "arm64"): ARCH,
            ("python3.12", "arm64"): ARCH,
        },
        wheel=True,
    ),
    Case(
        "numpy-2.3.5-cp311-manylinux_2_28",
        _download("numpy==2.3.5", "manylinux_2_28_x86_64", "3.11"),
        {
            ("python3.11", "x86_64"): Expected(
                "refuse", "elf-symbols", "needs GLIBC_2.27+; AL2 has 2.26"
            ),
            ("python3.12", "x86_64"): Expected("refuse", "python-abi", "cp311 extension on 3.12"),
            ("python3.11", "arm64"): ARCH,
            ("python3.12", "arm64"): ARCH,
        },
        wheel=True,
    ),
    Case(
        "numpy-2.1.3-cp312-aarch64",
        _download("numpy==2.1.3", "manylinux2014_aarch64", "3.12"),
        {
            ("python3.12", "arm64"): Expected("load"),
            ("python3.11", "arm64"): Expected("refuse", "python-abi", "cp312 extension on 3.11"),
            ("python3.12", "x86_64"): Expected("refuse", "elf-arch", "aarch64 binaries on x86_64"),
            ("python3.11", "x86_64"): Expected("refuse", "elf-arch", "aarch64 binaries on x86_64"),
        },
        wheel=True,
    ),
    Case(
        "psycopg2-binary-2.9.10-cp311",
        _download("psycopg2-binary==2.9.10", "manylinux2014_x86_64", "3.11"),
        {
            ("python3.11", "x86_64"): Expected(
                "load", reason="libpq & co bundled, found via RPATH"
            ),
            ("python3.12", "x86_64"): Expected("refuse", "python-abi"),
            ("python3.11", "arm64"): ARCH,
            ("python3.12", "arm64"): ARCH,
        },
        wheel=True,
    ),
    Case(
        "markupsafe-2.1.5-cp311-musllinux",
        _download("markupsafe==2.1.5", "musllinux_1_1_x86_64", "3.11"),
        {t: Expected("refuse", None, "musl, not glibc") for t in TARGETS},
        wheel=False,
    ),
    Case(
        "markupsafe-2.1.5-cp311-macos",
        _download("markupsafe==2.1.5", "macosx_10_9_universal2", "3.11"),
        {t: Expected("refuse", "foreign-binary", "Mach-O") for t in TARGETS},
    ),
    Case(
        "markupsafe-2.1.5-cp311-windows",
        _download("markupsafe==2.1.5", "win_amd64", "3.11"),
        {t: Expected("refuse", "foreign-binary", "PE/COFF .pyd") for t in TARGETS},
    ),
    Case(
        "pip-24.0",
        _download("pip==24.0", "any", "3.11"),
        {t: Expected("load", reason="its .exe launchers are data, never loaded") for t in TARGETS},
        warnings=("foreign-binary",),
    ),
    Case(
        "setuptools-69.5.1",
        _download("setuptools==69.5.1", "any", "3.11"),
        {t: Expected("load", reason="its .exe launchers are data, never loaded") for t in TARGETS},
        warnings=("foreign-binary",),
    ),
    Case(
        "six-1.16.0",
        _download("six==1.16.0", "any", "3.11"),
        {t: Expected("load") for t in TARGETS},
        wheel=True,
    ),
    Case(
        "crafted-plain",
        _crafted("plain", "int f(void){return 1;}\n"),
        _x86_only(python3_11=Expected("load"), python3_12=Expected("refuse", "python-abi")),
        wheel=True,
    ),
    Case(
        "crafted-glibc-2.27",
        _crafted(
            "g227",
            "#define _GNU_SOURCE\n#include <sys/mman.h>\n"
            'int f(void){return memfd_create("x",0);}\n',
        ),
        _x86_only(
            python3_11=Expected("refuse", "elf-symbols", "GLIBC_2.27 > 2.26"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
    ),
    Case(
        "crafted-dt-relr",
        _crafted(
            "relr",
            "#include <stdio.h>\nstatic int t[8]; int *p[4] = {&t[0], &t[1], &t[2], &t[3]};\n"
            'int f(void){puts("x"); return *p[1];}\n',
            "-Wl,-z,pack-relative-relocs",
        ),
        _x86_only(
            python3_11=Expected("refuse", "elf-symbols", "GLIBC_ABI_DT_RELR is glibc 2.36"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
        notes="auditwheel refuses it too: ABI_DT_RELR is not in any allowed GLIBC set",
    ),
    Case(
        "crafted-xcrypt",
        _crafted(
            "xcrypt",
            '#include <crypt.h>\nchar *g(void){return crypt_gensalt("$6$", 0, 0, 0);}\n',
            "-lcrypt",
        ),
        _x86_only(
            python3_11=Expected("refuse", "elf-symbols", "AL2's libcrypt.so.1 is glibc's"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
        notes="auditwheel accepts it: libcrypt is not in its whitelist... and XCRYPT is no family",
    ),
    Case(
        "crafted-zcalloc",
        _crafted(
            "zpriv",
            "#include <zlib.h>\nextern void *zcalloc(void *, unsigned, unsigned);\n"
            "const char *v(void){zcalloc(0, 1, 1); return zlibVersion();}\n",
            "-lz",
        ),
        _x86_only(
            python3_11=Expected("refuse", "elf-symbols", "zcalloc is zlib-internal"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
    ),
    Case(
        "crafted-helper-without-origin",
        _crafted(
            "helper",
            "extern int helper(void); int g(void){return helper();}\n",
            "-l:libhelper.so.1",
            extra={"libhelper.so.1": "int helper(void){return 1;}\n"},
        ),
        _x86_only(
            python3_11=Expected(
                "refuse", "elf-libraries", "no $ORIGIN: the loader never looks beside the extension"
            ),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
    ),
    Case(
        "crafted-helper-with-origin",
        _crafted(
            "origin",
            "extern int helper(void); int g(void){return helper();}\n",
            "-l:libhelper.so.1",
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN",
            extra={"libhelper.so.1": "int helper(void){return 1;}\n"},
        ),
        _x86_only(python3_11=Expected("load"), python3_12=Expected("refuse", "python-abi")),
        wheel=True,
    ),
    Case(
        "crafted-libmvec",
        _crafted(
            "vec",
            "#include <math.h>\ndouble f(double x){return sin(x);}\n",
            "-Wl,--no-as-needed",
            "-lmvec",
            "-lm",
        ),
        _x86_only(
            python3_11=Expected("load", reason="libmvec is glibc's since 2.22 on x86_64"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
    ),
    Case(
        "crafted-gomp",
        _crafted("omp", "void h(void){}\n", "-Wl,--no-as-needed", "-lgomp"),
        _x86_only(
            python3_11=Expected("refuse", "elf-libraries", "libgomp is not in Lambda"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
    ),
    Case(
        "crafted-linux-tag",
        _crafted("linuxtag", "int f(void){return 1;}\n", tag="cp311-cp311-linux_x86_64"),
        _x86_only(
            python3_11=Expected("load", reason="clean binaries; the tag only warns"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        warnings=("wheel-tags",),
    ),
]


_BUILT: dict[tuple[str, Path], Path] = {}


def artifact(case: Case, work: Path) -> Path:
    """The case's artifact, built once per work folder."""
    key = (case.name, work)
    if key not in _BUILT:
        _BUILT[key] = case.make(work)
    return _BUILT[key]


# -- issue 19 §5: the loader's rules to the last one, each class crafted here ----------------


def _both(al2: Expected, al2023: Expected | None = None) -> dict[tuple[str, str], Expected]:
    """An abi3 x86_64 artifact on Amazon Linux 2 (python3.11) and 2023 (python3.12)."""
    return {("python3.11", "x86_64"): al2, ("python3.12", "x86_64"): al2023 or al2}


def _arm64(verdict: Expected) -> dict[tuple[str, str], Expected]:
    x86 = Expected("refuse", "elf-arch", "aarch64 binaries on x86_64")
    return {
        ("python3.11", "arm64"): verdict,
        ("python3.12", "arm64"): verdict,
        ("python3.11", "x86_64"): x86,
        ("python3.12", "x86_64"): x86,
    }


def _aarch64(name: str, *, big_endian: bool) -> Callable[[Path], Path]:
    def make(work: Path) -> Path:
        library = aarch64_shared_object(work / name, f"_{name}.so", big_endian=big_endian)
        members: dict[str, bytes | Link] = {
            f"{name}/_{name}.abi3.so": library.read_bytes(),
            f"{name}/__init__.py": b"",
        }
        return wheel(work, name, members, "cp311-abi3-manylinux_2_17_aarch64")

    return make


def _executable_as_extension(name: str, *flags: str) -> Callable[[Path], Path]:
    """A program linked as an executable, shipped under an extension module's name."""

    def make(work: Path) -> Path:
        program = compile_c(work / name, "program", PROGRAM, "-nostdlib", *flags, shared=False)
        members: dict[str, bytes | Link] = {
            f"{name}/_{name}.abi3.so": program.read_bytes(),
            f"{name}/__init__.py": b"",
        }
        return wheel(work, name, members, ABI3)

    return make


#: A static-pie carries its own (static) glibc and applies its DT_RELR relocations itself.
STATIC_PIE = "#include <stdio.h>\n" + POINTERS + 'int main(void){printf("%d\\n", f()); return 0;}\n'


def _package_with_programs(work: Path) -> Path:
    folder = work / "programs"
    members: dict[str, bytes | Link] = {
        "programs/_programs.abi3.so": compile_c(folder, "ext.so", PLAIN).read_bytes(),
        "programs/__init__.py": b"",
        "programs/tools/run-exec": compile_c(
            folder, "exec", PROGRAM, "-nostdlib", "-no-pie", shared=False
        ).read_bytes(),
        "programs/tools/run-pie": compile_c(
            folder, "pie", PROGRAM, "-nostdlib", "-fPIE", "-pie", shared=False
        ).read_bytes(),
        "programs/tools/run-static-pie": compile_c(
            folder,
            "static-pie",
            STATIC_PIE,
            "-static-pie",
            "-Wl,-z,pack-relative-relocs",
            shared=False,
        ).read_bytes(),
    }
    return wheel(work, "programs", members, ABI3)


def _bundled_foo(
    name: str, bundled: str | None, *, user: str = USES_FOO, weak_version: bool = False
) -> Callable[[Path], Path]:
    """An extension linked against a libfoo.so.1 defining FOO_2.0, shipped beside (RPATH
    $ORIGIN) a libfoo.so.1 built with the ``bundled`` version script (None: no versions)."""

    def make(work: Path) -> Path:
        folder = work / name
        extension = foo_user(folder, "ext.so", user, libfoo(folder / "linked", FOO_2))
        if weak_version:
            set_version_flags(extension, "FOO_2.0", VER_FLG_WEAK)
        shipped = libfoo(folder / "shipped", bundled)
        members: dict[str, bytes | Link] = {
            f"{name}/_{name}.abi3.so": extension.read_bytes(),
            f"{name}/libfoo.so.1": shipped.read_bytes(),
            f"{name}/__init__.py": b"",
        }
        return wheel(work, name, members, ABI3)

    return make


def _weak(version: str) -> Callable[[Path], object]:
    return lambda library: set_version_flags(library, version, VER_FLG_WEAK)


def _linked_helper(name: str, link: bytes | Link | None, *, folder: bool) -> Callable[[Path], Path]:
    """A layer (zip or folder) whose extension needs libhelper.so.1 ($ORIGIN), where
    libhelper.so.1 is ``link``: a link to libhelper.so.1.2 (which is there, or not)."""

    def make(work: Path) -> Path:
        build = work / name
        helper = compile_c(build, "libhelper.so.1.2", PLAIN, "-Wl,-soname,libhelper.so.1")
        (build / "libhelper.so.1").symlink_to("libhelper.so.1.2")
        extension = compile_c(
            build,
            "ext.so",
            "extern int answer(void); int g(void){return answer();}\n",
            f"-L{build}",
            "-l:libhelper.so.1",
            "-Wl,-rpath,$ORIGIN",
        )
        members: dict[str, bytes | Link] = {
            "python/linked/__init__.py": b"",
            "python/linked/_linked.abi3.so": extension.read_bytes(),
        }
        if link is not None:
            members["python/linked/libhelper.so.1"] = link
            members["python/linked/libhelper.so.1.2"] = helper.read_bytes()
        else:
            members["python/linked/libhelper.so.1"] = Link("libhelper.so.1.2")
        make_layer = layer_folder if folder else layer_zip
        return make_layer(work, name, members)

    return make


def _links_only(
    name: str, members: dict[str, bytes | Link], *, folder: bool
) -> Callable[[Path], Path]:
    def make(work: Path) -> Path:
        return (layer_folder if folder else layer_zip)(work, name, members)

    return make


def _wheel_symlink(work: Path) -> Path:
    """An extension as a symlink member of a wheel: pip and uv write a file holding the name."""
    build = work / "wheellink"
    members: dict[str, bytes | Link] = {
        "wheellink/_real.abi3.so": compile_c(build, "real.so", PLAIN).read_bytes(),
        "wheellink/_wheellink.abi3.so": Link("_real.abi3.so"),
        "wheellink/__init__.py": b"",
    }
    return wheel(work, "wheellink", members, ABI3)


def _large_library(work: Path) -> Path:
    """A 297 MB extension (297,000,000 bytes of read-only data): its dynamic section lies past
    the Lambda budget's 262,144,000 bytes, which no reader may treat as 'truncated'."""
    source = "static const char blob[297000000] = {1};\nconst char *data(void){return blob;}\n"
    library = compile_c(work / "large", "large.so", source)
    return wheel(work, "large", {"large/_large.abi3.so": library.read_bytes()}, ABI3)


LOAD = Expected("load")
DLOPEN_LOADS, DLOPEN_REFUSES = Oracle("dlopen", "load"), Oracle("dlopen", "refuse")

CASES += [
    Case(
        "crafted-aarch64-little-endian",
        _aarch64("littleend", big_endian=False),
        _arm64(LOAD),
        notes="the control for the next case: the same binutils, little-endian",
        oracles=(Oracle("dlopen-arm64", "load"),),
    ),
    Case(
        "crafted-aarch64-big-endian",
        _aarch64("bigend", big_endian=True),
        _arm64(Expected("refuse", "elf-arch", "big-endian: 'data encoding not little-endian'")),
        notes="assembled and linked by aarch64-linux-gnu-as/ld -EB (no aarch64_be gcc here)",
        oracles=(Oracle("dlopen-arm64", "refuse"),),
    ),
    Case(
        "crafted-osabi-freebsd",
        _crafted("fbsd", PLAIN, tag=ABI3, patch=lambda p: set_ident(p, osabi=9)),
        _both(Expected("refuse", "elf-loader", "EI_OSABI 9: 'ELF file OS ABI invalid'")),
        notes="gcc's output with EI_OSABI rewritten to 9 (no FreeBSD toolchain here)",
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-osabi-gnu-ifunc",
        _crafted("gnuabi", IFUNC, tag=ABI3),
        _both(Expected("load", reason="an IFUNC makes ld write EI_OSABI GNU, which glibc accepts")),
        oracles=(DLOPEN_LOADS,),
    ),
    Case(
        "crafted-abi-version-without-gnu-osabi",
        _crafted("abiver", PLAIN, tag=ABI3, patch=lambda p: set_ident(p, abi_version=1)),
        _both(Expected("refuse", "elf-loader", "EI_ABIVERSION 1 needs OS ABI GNU")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-pie-as-extension",
        _executable_as_extension("pie", "-fPIE", "-pie"),
        _both(
            Expected("load", reason="glibc 2.26 still dlopens a PIE"),
            Expected("refuse", "elf-loader", "glibc >= 2.30 refuses to dlopen a PIE"),
        ),
        warnings=("elf-loader",),
        oracles=(DLOPEN_REFUSES,),  # the host's glibc is 2.36
    ),
    Case(
        "crafted-executable-as-extension",
        _executable_as_extension("exe", "-no-pie"),
        _both(Expected("refuse", "elf-loader", "ET_EXEC: 'cannot dynamically load executable'")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-programs-in-a-package",
        _package_with_programs,
        _both(Expected("load", reason="run, not dlopened: PIE, ET_EXEC, a static-pie's DT_RELR")),
        oracles=(DLOPEN_LOADS,),
    ),
    Case(
        "crafted-nodlopen",
        _crafted("noopen", PLAIN, "-Wl,-z,nodlopen", tag=ABI3),
        _both(Expected("refuse", "elf-loader", "DF_1_NOOPEN: 'cannot be dlopen()ed'")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-no-dynamic-section",
        _crafted("nodyn", PLAIN, tag=ABI3, patch=drop_dynamic_segment),
        _both(Expected("refuse", "elf-loader", "ET_DYN without PT_DYNAMIC")),
        notes="gcc's output with its PT_DYNAMIC header rewritten to PT_NULL",
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-bundled-version-defined",
        _bundled_foo("foodef", FOO_2),
        _both(Expected("load", reason="the bundled libfoo defines FOO_2.0")),
        oracles=(DLOPEN_LOADS,),
    ),
    Case(
        "crafted-bundled-version-missing",
        _bundled_foo("foomiss", FOO_1),
        _both(Expected("refuse", "elf-symbols", "needs FOO_2.0; the bundled libfoo has FOO_1.0")),
        notes="auditwheel checks versions against system libraries only",
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-bundled-without-versions",
        _bundled_foo("foonone", None),
        _both(Expected("refuse", "elf-symbols", "ld.so aborts: check_match assertion")),
        notes="glibc skips the version check (no DT_VERDEF), then aborts the process binding foo",
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-weak-version-weak-symbol",
        _bundled_foo("fooweak", FOO_1, user=USES_FOO_WEAKLY, weak_version=True),
        _both(Expected("load", reason="VER_FLG_WEAK is not fatal; foo resolves to NULL")),
        notes="VER_FLG_WEAK set by the struct writer (ld makes it only for empty versions)",
        oracles=(DLOPEN_LOADS,),
    ),
    Case(
        "crafted-weak-version-strong-symbol",
        _bundled_foo("foostrong", FOO_1, weak_version=True),
        _both(Expected("refuse", "elf-symbols", "undefined symbol: foo, version FOO_2.0")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-weak-glibc-version",
        _crafted("weakglibc", MEMFD_WEAK, "-Wl,--no-as-needed", patch=_weak("GLIBC_2.27")),
        _x86_only(
            python3_11=Expected("load", reason="GLIBC_2.27 flagged weak, used by a weak symbol"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
        notes="auditwheel refuses it (GLIBC_2.27 > 2.26): a false reject of its own",
    ),
    Case(
        "crafted-weak-glibc-version-strong-symbol",
        _crafted("strongglibc", MEMFD_STRONG, patch=_weak("GLIBC_2.27")),
        _x86_only(
            python3_11=Expected("refuse", "elf-symbols", "memfd_create@GLIBC_2.27 is strong"),
            python3_12=Expected("refuse", "python-abi"),
        ),
        wheel=True,
    ),
    Case(
        "crafted-dt-relr-unmarked",
        _crafted("relrbare", POINTERS, "-nostdlib", "-Wl,-z,pack-relative-relocs", tag=ABI3),
        _both(Expected("refuse", "elf-loader", "DT_RELR without GLIBC_ABI_DT_RELR, glibc < 2.36")),
        notes="-nostdlib: no libc to take the marker from; the host's glibc 2.36 applies DT_RELR",
        oracles=(DLOPEN_LOADS,),
    ),
    Case(
        "crafted-link-chain-zip",
        _linked_helper("chainzip", Link("libhelper.so.1.2"), folder=False),
        _both(LOAD),
        oracles=(DLOPEN_LOADS,),
    ),
    Case(
        "crafted-dangling-link-zip",
        _linked_helper("danglezip", None, folder=False),
        _both(Expected("refuse", "integrity", "libhelper.so.1 -> a file not in the layer")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-dangling-link-folder",
        _linked_helper("danglefolder", None, folder=True),
        _both(Expected("refuse", "integrity", "libhelper.so.1 -> a file not in the layer")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-looping-links-zip",
        _links_only(
            "loopzip",
            {
                "python/loop/__init__.py": b"",
                "python/loop/_loop.abi3.so": Link("_alias.abi3.so"),
                "python/loop/_alias.abi3.so": Link("_loop.abi3.so"),
            },
            folder=False,
        ),
        _both(Expected("refuse", "integrity", "links that loop: never '0 files checked, pass'")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-looping-links-folder",
        _links_only(
            "loopfolder",
            {
                "python/loop/__init__.py": b"",
                "python/loop/_loop.abi3.so": Link("_loop.abi3.so"),
            },
            folder=True,
        ),
        _both(Expected("refuse", "integrity", "a link to itself")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-symlink-member-in-wheel",
        _wheel_symlink,
        _both(Expected("refuse", "integrity", "pip installs the link as a file of 13 bytes")),
        oracles=(DLOPEN_REFUSES,),
    ),
    Case(
        "crafted-file-name-tag-refused",
        _crafted(
            "newtag",
            PLAIN,
            tag="cp311-abi3-manylinux_2_34_x86_64",
            declared="cp311-abi3-manylinux_2_17_x86_64",
        ),
        _both(
            Expected("refuse", "wheel-tags", "pip goes by the file name: manylinux_2_34 on 2.26"),
            Expected("load", reason="2.34 is Amazon Linux 2023's glibc"),
        ),
        warnings=("wheel-tags",),
        oracles=(Oracle("pip", "refuse", "python3.11"), Oracle("pip", "load", "python3.12")),
    ),
    Case(
        "crafted-file-name-tag-accepted",
        _crafted(
            "oldtag",
            PLAIN,
            tag="cp311-abi3-manylinux_2_17_x86_64",
            declared="cp311-abi3-manylinux_2_34_x86_64",
        ),
        _both(Expected("load", reason="pip installs by the file name's manylinux_2_17")),
        warnings=("wheel-tags",),
        oracles=(Oracle("pip", "load", "python3.11"),),
    ),
    Case(
        "crafted-requires-python",
        lambda work: wheel(
            work,
            "newpy",
            {"newpy/__init__.py": b"x = 1\n"},
            "py3-none-any",
            requires_python=">=3.12",
        ),
        _both(
            Expected("refuse", "wheel-tags", "pip refuses it: Requires-Python >=3.12"),
            Expected("load"),
        ),
        notes="pip checks Requires-Python against the interpreter it runs under (3.11 here), "
        "not --python-version: its python3.12 verdict cannot be asked of it here",
        oracles=(Oracle("pip", "refuse", "python3.11"),),
    ),
    Case(
        "crafted-large-library",
        _large_library,
        _both(
            Expected(
                "refuse",
                "size",
                "297 MB is over the budget: read in full, never 'truncated'",
                forbidden=("integrity",),
            )
        ),
        notes="the only verdict a 297 MB file can have in a layer; the ELF rules still read it",
    ),
]
