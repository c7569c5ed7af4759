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
from typing import IO, cast

import pytest

from layerforge.runtimes import Architecture, Runtime, get_runtime
from layerforge.verify import Finding, Report, Rule, Severity, verify_layer
from layerforge.verify.elf import read_elf_facts, read_elf_facts_with_pyelftools
from layerforge.verify.policy import policy_for
from tests.conftest import compile_shared_library
from tests.fidelity.crafting import (
    FOO_1,
    FOO_2,
    IFUNC,
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
    libfoo,
    set_ident,
    set_version_flags,
    wheel,
)
from tests.fidelity.crafting import layer_zip as crafted_zip
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


# -- issue 19 §5: each class on binaries built here (gcc, binutils, a struct writer) ---------

ABI3 = "cp311-abi3-manylinux_2_17_x86_64"


def _report(target: Path, runtime: Runtime = PY311, arch: Architecture = X86) -> Report:
    return verify_layer([target], runtime, arch)


def _one(report: Report, rule: Rule) -> Finding:
    found = [f for f in report.findings if f.rule is rule]
    assert len(found) == 1, report.findings
    return found[0]


def test_byte_order_os_abi_and_abi_version_are_what_glibc_compares(build: Path) -> None:
    little = aarch64_shared_object(build / "le", "libanswer.so", big_endian=False)
    big = aarch64_shared_object(build / "be", "libanswer.so", big_endian=True)
    for library in (little, big):
        data = library.read_bytes()
        assert read_elf_facts(io.BytesIO(data)) == read_elf_facts_with_pyelftools(io.BytesIO(data))
    assert _report(
        layer_zip(build / "le.zip", {"python/libanswer.so": little.read_bytes()}), PY312, ARM
    ).passed
    on_arm = _report(
        layer_zip(build / "be.zip", {"python/libanswer.so": big.read_bytes()}), PY312, ARM
    )
    finding = _one(on_arm, Rule.ELF_ARCH)
    assert "big-endian" in finding.message and "not little-endian" in finding.message
    for osabi, abi_version, fragment in ((9, None, "OS ABI 9"), (None, 1, "ABI version 1")):
        built = compile_c(build, "libpatched.so", PLAIN)
        patched = set_ident(built, osabi=osabi, abi_version=abi_version)
        report = _report(layer_zip(build / "p.zip", {"python/_p.abi3.so": patched.read_bytes()}))
        assert fragment in _one(report, Rule.ELF_LOADER).message
    program = compile_c(build, "prog", PROGRAM, "-nostdlib", "-no-pie", shared=False)
    branded = set_ident(program, osabi=9)  # the kernel runs it: only dlopen looks at EI_OSABI
    members = {"bin/tool": branded.read_bytes(), "python/m.py": b""}
    assert _report(layer_zip(build / "b.zip", members)).passed
    gnu = compile_c(build, "libifunc.so", IFUNC)
    assert read_elf_facts(io.BytesIO(gnu.read_bytes())).ident.osabi == 3  # ld marks IFUNC users
    assert _report(layer_zip(build / "g.zip", {"python/_g.abi3.so": gnu.read_bytes()})).passed


def test_what_dlopen_maps_must_be_a_shared_library(build: Path) -> None:
    pie = compile_c(build, "pie", PROGRAM, "-nostdlib", "-fPIE", "-pie", shared=False)
    exe = compile_c(build, "exe", PROGRAM, "-nostdlib", "-no-pie", shared=False)
    noopen = compile_c(build, "libnoopen.so", PLAIN, "-Wl,-z,nodlopen")
    nodyn = drop_dynamic_segment(compile_c(build, "libnodyn.so", PLAIN))
    layer = layer_zip(
        build / "types.zip",
        {
            "python/pkg/_pie.abi3.so": pie.read_bytes(),
            "python/pkg/_exe.abi3.so": exe.read_bytes(),
            "python/pkg/_noopen.abi3.so": noopen.read_bytes(),
            "python/pkg/_nodyn.abi3.so": nodyn.read_bytes(),
            "python/pkg/tools/run-pie": pie.read_bytes(),  # executables are run, not dlopened
            "python/pkg/tools/run-exe": exe.read_bytes(),
            "bin/tool.so": exe.read_bytes(),
        },
    )
    on_al2 = {f.file: f for f in _report(layer).findings if f.rule is Rule.ELF_LOADER}
    assert on_al2["python/pkg/_pie.abi3.so"].severity is Severity.WARNING  # glibc 2.26 maps it
    assert "2.30" in on_al2["python/pkg/_pie.abi3.so"].message
    assert "cannot dynamically load executable" in on_al2["python/pkg/_exe.abi3.so"].message
    assert "DF_1_NOOPEN" in on_al2["python/pkg/_noopen.abi3.so"].message
    assert "no dynamic section" in on_al2["python/pkg/_nodyn.abi3.so"].message
    assert set(on_al2) == {
        "python/pkg/_pie.abi3.so",
        "python/pkg/_exe.abi3.so",
        "python/pkg/_noopen.abi3.so",
        "python/pkg/_nodyn.abi3.so",
    }
    on_al2023 = _report(layer, PY312)
    assert "python/pkg/_pie.abi3.so" in errors(on_al2023, Rule.ELF_LOADER)


def test_dt_relr_needs_glibc_236_even_without_its_marker(build: Path) -> None:
    bare = compile_c(build, "librelr.so", POINTERS, "-nostdlib", "-Wl,-z,pack-relative-relocs")
    facts = read_elf_facts(io.BytesIO(bare.read_bytes()))
    assert facts.relr and not facts.versioned  # no libc: no GLIBC_ABI_DT_RELR to need
    layer = layer_zip(build / "relr.zip", {"python/_relr.abi3.so": bare.read_bytes()})
    for runtime in (PY311, PY312):
        finding = _one(_report(layer, runtime), Rule.ELF_LOADER)
        assert "DT_RELR" in finding.message and "2.36" in finding.message
    uses_libc = '#include <stdio.h>\nvoid hello(void){puts("x");}\n' + POINTERS
    marked = compile_c(build, "libmarked.so", uses_libc, "-Wl,-z,pack-relative-relocs")
    report = _report(layer_zip(build / "m.zip", {"python/_m.abi3.so": marked.read_bytes()}))
    assert [f.rule for f in report.findings] == [Rule.ELF_SYMBOLS]  # the marker says it once


@pytest.fixture(scope="module")
def foo(build: Path) -> dict[str, bytes]:
    """libfoo.so.1 built three ways, and extensions linked against the one defining FOO_2.0."""
    built = {
        name: libfoo(build / name, script).read_bytes()
        for name, script in (("v1", FOO_1), ("v2", FOO_2), ("none", None))
    }
    linked = build / "v2" / "libfoo.so.1"
    strong = foo_user(build, "strong.so", USES_FOO, linked)
    weak = foo_user(build, "weak.so", USES_FOO_WEAKLY, linked)
    built["strong"] = strong.read_bytes()
    built["strong-weak-version"] = set_version_flags(strong, "FOO_2.0", VER_FLG_WEAK).read_bytes()
    built["weak-weak-version"] = set_version_flags(weak, "FOO_2.0", VER_FLG_WEAK).read_bytes()
    return built


def _with_foo(build: Path, extension: bytes, library: bytes) -> Report:
    members = {"python/foo/_foo.abi3.so": extension, "python/foo/libfoo.so.1": library}
    return _report(layer_zip(build / "foo.zip", members))


def test_versions_needed_from_a_bundled_library_are_checked_against_its_verdef(
    build: Path, foo: dict[str, bytes]
) -> None:
    assert _with_foo(build, foo["strong"], foo["v2"]).passed
    missing = _one(_with_foo(build, foo["strong"], foo["v1"]), Rule.ELF_SYMBOLS)
    assert missing.required == "FOO_2.0" and "defines only FOO_1.0" in missing.message
    unversioned = _one(_with_foo(build, foo["strong"], foo["none"]), Rule.ELF_SYMBOLS)
    assert "no symbol versions at all" in unversioned.message
    assert read_elf_facts(io.BytesIO(foo["none"])).definitions is None


def test_a_weak_version_requirement_is_not_fatal_but_a_strong_symbol_of_it_is(
    build: Path, foo: dict[str, bytes]
) -> None:
    weak = _with_foo(build, foo["weak-weak-version"], foo["v1"])
    assert weak.passed
    assert _one(weak, Rule.ELF_SYMBOLS).severity is Severity.INFO
    strong = _one(_with_foo(build, foo["strong-weak-version"], foo["v1"]), Rule.ELF_SYMBOLS)
    assert strong.severity is Severity.ERROR and "undefined symbol" in strong.message
    assert "foo@FOO_2.0" in strong.message
    glibc = compile_c(build, "libweakglibc.so", MEMFD_WEAK, "-Wl,--no-as-needed")
    set_version_flags(glibc, "GLIBC_2.27", VER_FLG_WEAK)
    facts = read_elf_facts(io.BytesIO(glibc.read_bytes()))
    assert [(w.library, w.version) for w in facts.weak] == [("libc.so.6", "GLIBC_2.27")]
    assert facts == read_elf_facts_with_pyelftools(io.BytesIO(glibc.read_bytes()))
    report = _report(layer_zip(build / "wg.zip", {"python/_wg.abi3.so": glibc.read_bytes()}))
    assert report.passed and report.count(Severity.INFO) == 1


def test_links_that_loop_or_dangle_are_errors_never_zero_files_checked(
    build: Path, tmp_path: Path
) -> None:
    plain = compile_c(build, "libreal.so", PLAIN)
    only_links = {
        "python/pkg/_loop.abi3.so": Link("_alias.abi3.so"),
        "python/pkg/_alias.abi3.so": Link("_loop.abi3.so"),
        "python/pkg/_gone.abi3.so": Link("../missing/_gone.so"),
        "python/pkg/data.txt": Link("nowhere.txt"),
    }
    for target in (
        crafted_zip(tmp_path, "links", only_links),
        layer_folder(tmp_path, "links-folder", only_links),
    ):
        report = _report(target)
        assert report.elf_files == 0 and not report.passed
        assert sorted(errors(report, Rule.INTEGRITY)) == [
            "python/pkg/_alias.abi3.so",
            "python/pkg/_gone.abi3.so",
            "python/pkg/_loop.abi3.so",
        ]
        messages = {f.file: f.message for f in report.findings}
        assert "loops" in messages["python/pkg/_loop.abi3.so"]
        assert "python/missing is not in the layer" in messages["python/pkg/_gone.abi3.so"]
        assert "python/pkg/data.txt" in {
            f.file for f in report.findings if f.severity is Severity.WARNING
        }
    through_folder = crafted_zip(
        tmp_path,
        "folder-link",
        {
            "python/real/libreal.so.1": plain.read_bytes(),
            "python/pkg": Link("real"),
            "python/ext/_e.abi3.so": compile_c(
                build,
                "uses.so",
                "extern int answer(void); int g(void){return answer();}\n",
                f"-L{build}",
                "-l:libreal.so",
                "-Wl,-rpath,$ORIGIN/../pkg",
            ).read_bytes(),
            "python/ext/text.so": Link("../real/notes.txt"),
            "python/real/notes.txt": b"not a library\n",
        },
    )
    report = _report(through_folder)
    assert errors(report, Rule.ELF_LIBRARIES) == ["python/ext/_e.abi3.so"]  # libreal.so: no link
    assert errors(report, Rule.INTEGRITY) == ["python/real/notes.txt"]
    assert "through the link python/ext/text.so" in _one(report, Rule.INTEGRITY).message


def test_a_symlink_member_of_a_wheel_is_the_file_pip_writes(build: Path, tmp_path: Path) -> None:
    real = compile_c(build, "libw.so", PLAIN).read_bytes()
    target = wheel(
        tmp_path,
        "linked",
        {
            "linked/_real.abi3.so": real,
            "linked/_linked.abi3.so": Link("_real.abi3.so"),
            "linked/escape": Link("../../../../etc/passwd"),  # a file of 22 bytes, harmless
        },
        ABI3,
    )
    report = _report(target)
    finding = _one(report, Rule.INTEGRITY)
    assert finding.file == "python/linked/_linked.abi3.so"
    assert "pip and uv install it as a file" in finding.message
    assert not errors(report, Rule.LAYOUT)


def test_wheel_targets_are_judged_by_their_file_name(build: Path, tmp_path: Path) -> None:
    ext = {"newtag/_newtag.abi3.so": compile_c(build, "libt.so", PLAIN).read_bytes()}
    newer = wheel(
        tmp_path,
        "newtag",
        ext,
        "cp311-abi3-manylinux_2_34_x86_64",
        declared="cp311-abi3-manylinux_2_17_x86_64",
    )
    on_al2 = _report(newer)
    assert errors(on_al2, Rule.WHEEL_TAGS) == [newer.name]
    on_al2023 = _report(newer, PY312)
    assert on_al2023.passed
    warning = _one(on_al2023, Rule.WHEEL_TAGS)
    assert warning.file == "python/newtag-1.0.dist-info/WHEEL" and "file name" in warning.message
    broken = tmp_path / "broken"
    broken.mkdir()
    cases = {
        "notawheel.whl": ({"x.py": b""}, "pip refuses it"),
        "nodist-1.0-py3-none-any.whl": ({"nodist/__init__.py": b""}, "no .dist-info folder"),
        "other-1.0-py3-none-any.whl": (
            {"x.py": b"", "else-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: py3-none-any\n"},
            "not named for other",
        ),
        "future-1.0-py3-none-any.whl": (
            {"future-1.0.dist-info/WHEEL": b"Wheel-Version: 2.0\nTag: py3-none-any\n"},
            "Wheel-Version 2",
        ),
        "nowheel-1.0-py3-none-any.whl": ({"nowheel-1.0.dist-info/METADATA": b""}, "no nowheel"),
    }
    for name, (members, fragment) in cases.items():
        path = crafted_zip(broken, name.removesuffix(".whl"), members).rename(broken / name)
        finding = _one(_report(path), Rule.WHEEL_TAGS)
        assert finding.file == name and fragment in finding.message, finding
    newer_python = wheel(
        tmp_path, "newpy", {"newpy/x.py": b""}, "py3-none-any", requires_python=">=3.12"
    )
    assert "Requires-Python >=3.12" in _one(_report(newer_python), Rule.WHEEL_TAGS).message
    assert _report(newer_python, PY312).passed


class _Counted(io.RawIOBase):
    """A zip member that counts the bytes inflated to serve reads (a seek inflates too)."""

    def __init__(self, member: IO[bytes]) -> None:
        self._member, self.inflated, self._at = member, 0, 0

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset if whence == 0 else self._at + offset
        self.inflated += target if target < self._at else target - self._at
        self._at = self._member.seek(target)
        return self._at

    def read(self, size: int = -1) -> bytes:
        data = self._member.read(size)
        self.inflated += len(data)
        self._at += len(data)
        return data


@pytest.mark.slow
def test_a_297_mb_library_is_read_where_its_tables_are_not_called_truncated(
    build: Path, tmp_path: Path
) -> None:
    source = "static const char blob[297000000] = {1};\nconst char *data(void){return blob;}\n"
    library = compile_c(build, "liblarge.so", source)
    assert library.stat().st_size > 297_000_000
    folder = tmp_path / "layer" / "python"
    folder.mkdir(parents=True)
    library.rename(folder / "_large.abi3.so")
    zipped = tmp_path / "large.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(folder / "_large.abi3.so", "python/_large.abi3.so")
    for target in (tmp_path / "layer", zipped):
        report = _report(target)
        assert [(f.rule, f.severity) for f in report.findings] == [(Rule.SIZE, Severity.ERROR)]
        assert report.elf_files == 1
    with (folder / "_large.abi3.so").open("rb") as handle:
        facts = read_elf_facts(handle)
        assert facts == read_elf_facts_with_pyelftools(handle) and facts.dynamic
    with zipfile.ZipFile(zipped) as archive, archive.open("python/_large.abi3.so") as member:
        counted = _Counted(member)
        size = archive.getinfo(member.name).file_size
        assert read_elf_facts(cast(IO[bytes], counted), size) == facts
        assert counted.inflated < 1.2 * 297_000_000  # once to the dynamic section, no rewinds
    probe = (
        "from pathlib import Path\n"
        "from layerforge.runtimes import Architecture, get_runtime\n"
        "from layerforge.verify import verify_layer\n"
        f"verify_layer([Path({str(zipped)!r})], get_runtime('python3.11'), Architecture.X86_64)\n"
        "status = Path('/proc/self/status').read_text().splitlines()\n"
        "print(next(line.split()[1] for line in status if line.startswith('VmHWM')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert int(done.stdout.strip()) < 200_000  # KiB: the 297 MB member is never held in memory
