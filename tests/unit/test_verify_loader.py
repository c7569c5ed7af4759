"""verify-abi against the loader's real rules, on binaries compiled here: each case is one of the
false accepts or false rejects an independent oracle found, and must now get the right verdict."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from layerforge.runtimes import Architecture, get_runtime
from layerforge.verify import Report, Rule, Severity, verify_layer
from layerforge.verify.elf import read_elf_facts
from layerforge.verify.policy import policy_for
from tests.conftest import compile_shared_library
from tests.unit.test_verify_rules import errors, layer_zip

PY311, PY312, PY313 = (
    get_runtime("python3.11"),
    get_runtime("python3.12"),
    get_runtime("python3.13"),
)
X86, ARM = Architecture.X86_64, Architecture.ARM64


def _findings(report: Report, rule: Rule) -> list[str]:
    return [f"{f.severity.value}:{f.file}" for f in report.findings if f.rule is rule]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("so")


def test_dt_relr_needs_glibc_236_which_no_lambda_os_has(build: Path) -> None:
    library = compile_shared_library(
        "#include <stdio.h>\nstatic int table[64];\n"
        "int *p[64] = {&table[0], &table[1], &table[2], &table[3]};\n"
        'int f(void){puts("x"); return *p[1];}\n',
        build / "librelr.so",
        "-Wl,-z,pack-relative-relocs",
    )
    facts = read_elf_facts(io.BytesIO(library.read_bytes()))
    assert ("libc.so.6", "GLIBC_ABI_DT_RELR") in facts.versioned
    layer = layer_zip(build / "relr.zip", {"python/pkg/_relr.so": library.read_bytes()})
    for runtime in (PY311, PY312):
        report = verify_layer([layer], runtime, X86)
        finding = next(f for f in report.findings if f.rule is Rule.ELF_SYMBOLS)
        assert "GLIBC_ABI_DT_RELR" in finding.required and "2.36" in finding.message


def test_libxcrypt_versions_are_not_glibcs_libcrypt(build: Path) -> None:
    library = compile_shared_library(
        '#include <crypt.h>\nchar *g(void){return crypt_gensalt("$6$", 0, 0, 0);}\n',
        build / "libsalt.so",
        "-lcrypt",
    )
    facts = read_elf_facts(io.BytesIO(library.read_bytes()))
    assert any(v.startswith("XCRYPT_") for lib, v in facts.versioned if lib == "libcrypt.so.1")
    layer = layer_zip(build / "crypt.zip", {"python/pkg/_salt.so": library.read_bytes()})
    on_al2 = verify_layer([layer], PY311, X86)
    symbols = next(f for f in on_al2.findings if f.rule is Rule.ELF_SYMBOLS)
    assert "libcrypt.so.1 on Amazon Linux 2 defines only GLIBC" in symbols.message
    on_al2023 = verify_layer([layer], PY312, X86)
    assert errors(on_al2023, Rule.ELF_LIBRARIES) == ["python/pkg/_salt.so"]  # no libcrypt.so.1


def test_helper_beside_an_extension_needs_an_origin_entry(build: Path) -> None:
    helper = compile_shared_library("int helper(void){return 1;}\n", build / "libhelper.so")
    plain = compile_shared_library(
        "extern int helper(void); int g(void){return helper();}\n",
        build / "user_plain.so",
        f"-L{build}",
        "-lhelper",
    )
    runpath = compile_shared_library(
        "extern int helper(void); int g(void){return helper();}\n",
        build / "user_runpath.so",
        f"-L{build}",
        "-lhelper",
        "-Wl,--enable-new-dtags,-rpath,$ORIGIN",
    )
    beside = {"python/pkg/libhelper.so": helper.read_bytes()}
    no_origin = layer_zip(build / "a.zip", {**beside, "python/pkg/_ext.so": plain.read_bytes()})
    assert errors(verify_layer([no_origin], PY311, X86), Rule.ELF_LIBRARIES) == [
        "python/pkg/_ext.so"
    ]
    origin = layer_zip(build / "b.zip", {**beside, "python/pkg/_ext.so": runpath.read_bytes()})
    assert verify_layer([origin], PY311, X86).passed
    elsewhere = layer_zip(
        build / "c.zip",
        {
            "python/other/libhelper.so": helper.read_bytes(),
            "python/pkg/_ext.so": runpath.read_bytes(),
        },
    )
    assert errors(verify_layer([elsewhere], PY311, X86), Rule.ELF_LIBRARIES) == [
        "python/pkg/_ext.so"
    ]
    in_lib = layer_zip(
        build / "d.zip",
        {"lib/libhelper.so": helper.read_bytes(), "python/pkg/_ext.so": plain.read_bytes()},
    )
    assert verify_layer([in_lib], PY311, X86).passed  # /opt/lib is on LD_LIBRARY_PATH


def test_rpath_is_inherited_down_the_load_chain_but_runpath_is_not(build: Path) -> None:
    leaf = compile_shared_library("int leaf(void){return 2;}\n", build / "libleaf.so")
    middle = compile_shared_library(
        "extern int leaf(void); int mid(void){return leaf();}\n",
        build / "libmiddle.so",
        f"-L{build}",
        "-lleaf",
    )
    top_rpath = compile_shared_library(
        "extern int mid(void); int top(void){return mid();}\n",
        build / "top_rpath.so",
        f"-L{build}",
        "-lmiddle",
        "-Wl,--disable-new-dtags,-rpath,$ORIGIN/lib",
    )
    top_runpath = compile_shared_library(
        "extern int mid(void); int top(void){return mid();}\n",
        build / "top_runpath.so",
        f"-L{build}",
        "-lmiddle",
        "-Wl,--enable-new-dtags,-rpath,$ORIGIN/lib",
    )
    libs = {
        "python/pkg/lib/libmiddle.so": middle.read_bytes(),
        "python/pkg/lib/libleaf.so": leaf.read_bytes(),
    }
    inherited = layer_zip(build / "i.zip", {**libs, "python/pkg/_top.so": top_rpath.read_bytes()})
    assert verify_layer([inherited], PY311, X86).passed
    not_inherited = layer_zip(
        build / "n.zip", {**libs, "python/pkg/_top.so": top_runpath.read_bytes()}
    )
    assert errors(verify_layer([not_inherited], PY311, X86), Rule.ELF_LIBRARIES) == [
        "python/pkg/lib/libmiddle.so"
    ]


def test_libpython_of_another_version_is_refused(build: Path) -> None:
    fake = compile_shared_library(
        "int Py_X(void){return 0;}\n",
        build / "libpython3.13.so",
        "-Wl,-soname,libpython3.13.so.1.0",
    )
    user = compile_shared_library(
        "extern int Py_X(void); int g(void){return Py_X();}\n",
        build / "uses_py313.so",
        f"-L{build}",
        "-lpython3.13",
    )
    assert fake.exists()
    layer = layer_zip(build / "py.zip", {"python/pkg/_ext.so": user.read_bytes()})
    wrong = verify_layer([layer], PY312, X86)
    assert _findings(wrong, Rule.ELF_LIBRARIES) == ["error:python/pkg/_ext.so"]
    same = verify_layer([layer], PY313, X86)
    assert same.passed and _findings(same, Rule.ELF_LIBRARIES) == ["warning:python/pkg/_ext.so"]


def test_zlib_internal_symbols_are_refused(build: Path) -> None:
    library = compile_shared_library(
        "#include <zlib.h>\nextern void *zcalloc(void *, unsigned, unsigned);\n"
        "const char *v(void){zcalloc(0, 1, 1); return zlibVersion();}\n",
        build / "libzpriv.so",
        "-lz",
    )
    layer = layer_zip(build / "z.zip", {"python/pkg/_z.so": library.read_bytes()})
    finding = next(
        f for f in verify_layer([layer], PY311, X86).findings if f.rule is Rule.ELF_SYMBOLS
    )
    assert "zcalloc" in finding.message


def test_libmvec_is_glibc_on_x86_64_but_not_on_aarch64_before_238(build: Path) -> None:
    vector = compile_shared_library(
        "#include <math.h>\ndouble f(double x){return sin(x);}\n",
        build / "libvec.so",
        "-Wl,--no-as-needed",
        "-lmvec",
        "-lm",
    )
    assert "libmvec.so.1" in read_elf_facts(io.BytesIO(vector.read_bytes())).needed
    layer = layer_zip(build / "v.zip", {"python/pkg/_v.so": vector.read_bytes()})
    assert verify_layer([layer], PY311, X86).passed and verify_layer([layer], PY312, X86).passed
    assert "libmvec.so.1" not in policy_for(PY312, ARM).system_libraries
    assert "libmvec.so.1" in policy_for(PY312, X86).system_libraries


def test_truncated_and_fake_shared_objects_are_errors(build: Path) -> None:
    real = compile_shared_library("int f(void){return 1;}\n", build / "libreal.so").read_bytes()
    members = {
        "python/pkg/_trunc.cpython-311-x86_64-linux-gnu.so": real[:4096],
        "python/pkg/_tiny.so": real[:16],
        "python/pkg/_text.so": b"this is not a library\n",
        "python/pkg/libscript.so.1": b"/* GNU ld script */\nGROUP ( libc.so.6 )\n",
    }
    report = verify_layer([layer_zip(build / "t.zip", members)], PY311, X86)
    assert sorted(errors(report, Rule.INTEGRITY)) == sorted(members)
    assert "truncated" in next(f.message for f in report.findings if "_trunc" in f.file)


def test_windows_launchers_are_dead_weight_not_failures(tmp_path: Path) -> None:
    layer = layer_zip(
        tmp_path / "w.zip",
        {
            "python/setuptools/cli-64.exe": b"MZ\x90\x00" + b"\0" * 60,
            "python/pip/_vendor/distlib/t64.exe": b"MZ\x90\x00" + b"\0" * 60,
            "python/pkg/_speedups.pyd": b"MZ\x90\x00" + b"\0" * 60,
            "python/pkg/_speedups.cpython-311-x86_64-linux-gnu.so": b"",
        },
    )
    report = verify_layer([layer], PY311, X86)
    assert {f.file for f in report.findings if f.rule is Rule.FOREIGN_BINARY} == {
        "python/setuptools/cli-64.exe",
        "python/pip/_vendor/distlib/t64.exe",
        "python/pkg/_speedups.pyd",
    }
    assert not errors(report, Rule.FOREIGN_BINARY)  # the .pyd has a Linux sibling


def test_linux_tagged_wheels_warn_and_garbage_tags_are_findings(tmp_path: Path) -> None:
    layer = layer_zip(
        tmp_path / "tags.zip",
        {
            "python/a-1.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n",
            "python/b-1.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: garbage\n",
        },
    )
    report = verify_layer([layer], PY311, X86)
    assert _findings(report, Rule.WHEEL_TAGS) == [
        "error:python/b-1.dist-info/WHEEL",
        "warning:python/a-1.dist-info/WHEEL",
    ]


def _corrupt(path: Path, member: str) -> Path:
    """Flip bytes in the middle of one deflated member's data (its CRC will not match)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 2, start + min(info.compress_size, 40)):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def test_corrupt_members_are_findings_not_tracebacks(build: Path, tmp_path: Path) -> None:
    real = compile_shared_library("int f(void){return 3;}\n", build / "libc3.so").read_bytes()
    layer = tmp_path / "c.zip"
    with zipfile.ZipFile(layer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("python/pkg/_fast.so", real)
        archive.writestr("python/pkg-1.dist-info/WHEEL", b"Tag: py3-none-any\n" * 50)
    _corrupt(layer, "python/pkg/_fast.so")
    _corrupt(layer, "python/pkg-1.dist-info/WHEEL")
    report = verify_layer([layer], PY311, X86)
    assert not report.passed
    assert {f.file for f in report.findings if f.severity is Severity.ERROR} == {
        "python/pkg/_fast.so",
        "python/pkg-1.dist-info/WHEEL",
    }


def test_special_files_are_refused_without_being_opened(tmp_path: Path) -> None:
    from layerforge.errors import UsageError

    fifo = tmp_path / "layer.zip"
    os.mkfifo(fifo)
    for target in (fifo, Path("/dev/zero")):
        with pytest.raises(UsageError, match="not a regular file or folder"):
            verify_layer([target], PY311, X86)
    folder = tmp_path / "layer" / "python"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "pipe.so")
    report = verify_layer([tmp_path / "layer"], PY311, X86)
    assert errors(report, Rule.LAYOUT) == ["python/pipe.so"]


def test_a_link_that_inflates_to_300_mb_is_read_only_as_far_as_a_path_goes(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("python/pkg/link")
        info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as member:
            for _ in range(300):
                member.write(b"a" * 1_000_000)
    assert path.stat().st_size < 2_000_000
    probe = (
        "import resource, sys; from pathlib import Path\n"
        "from layerforge.runtimes import Architecture, get_runtime\n"
        "from layerforge.verify import verify_layer\n"
        f"verify_layer([Path({str(path)!r})], get_runtime('python3.11'), Architecture.X86_64)\n"
        "status = Path('/proc/self/status').read_text().splitlines()\n"
        "print(next(line.split()[1] for line in status if line.startswith('VmHWM')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert int(done.stdout.strip()) < 150_000  # KiB: far below the 300 MB it would inflate to
