"""The fidelity corpus: artifacts with the verdict the real loader would give, per target.

Real wheels are fetched from PyPI at test time (cached between runs); crafted cases are compiled
here with gcc (each is one way a binary can fail to load, or seem to fail and still load). Each
case lists, per (runtime, architecture), ``load`` or ``refuse`` with the rule and the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CASES", "TARGETS", "Case", "Expected", "artifact"]

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


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]
    expected: dict[tuple[str, str], Expected]
    wheel: bool = False  # auditwheel can judge it
    notes: str = ""
    warnings: tuple[str, ...] = field(default=())  # rules that must warn (not refuse)


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


def _so(work: Path, name: str, source: str, *flags: str) -> Path:
    gcc = shutil.which("gcc")
    assert gcc is not None
    c_file = work / f"{name}.c"
    c_file.write_text(source)
    target = work / name
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(target), str(c_file), *flags], check=True)
    return target


def _wheel(work: Path, name: str, members: dict[str, bytes], tag: str) -> Path:
    """A wheel around crafted members (so auditwheel can judge it too)."""
    path = work / f"{name}-1.0-{tag}.whl"
    dist = f"{name}-1.0.dist-info"
    files = {
        **members,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist}/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
    }
    record = "".join(f"{member},,\n" for member in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in {**files, f"{dist}/RECORD": record.encode()}.items():
            info = zipfile.ZipInfo(member)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def _crafted(
    name: str,
    source: str,
    *flags: str,
    extra: dict[str, str] | None = None,
    tag: str = "cp311-cp311-manylinux_2_17_x86_64",
) -> Callable[[Path], Path]:
    def make(work: Path) -> Path:
        folder = work / name
        folder.mkdir(exist_ok=True)
        members = {}
        for helper, helper_source in (extra or {}).items():
            members[f"{name}/{helper}"] = _so(
                folder, helper, helper_source, f"-Wl,-soname,{helper}"
            ).read_bytes()
        library = _so(folder, f"_{name}.so", source, f"-L{folder}", *flags)
        members[f"{name}/_{name}.cpython-311-x86_64-linux-gnu.so"] = library.read_bytes()
        members[f"{name}/__init__.py"] = b""
        return _wheel(work, name, members, tag)

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


def artifact(case: Case, work: Path) -> Path:
    return case.make(work)
