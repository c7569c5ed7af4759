"""verify-abi rules on real artifacts: .so files compiled here with gcc, zips written here."""

from __future__ import annotations

import io
import json
import stat
import warnings
import zipfile
from pathlib import Path

import jsonschema
import pytest

from layerforge.cli import main
from layerforge.runtimes import Architecture, get_runtime
from layerforge.verify import Report, Rule, Severity, verify_layer
from layerforge.verify.elf import read_elf_facts, read_elf_facts_with_pyelftools
from tests.conftest import compile_shared_library

PY311 = get_runtime("python3.11")
PY312 = get_runtime("python3.12")
X86 = Architecture.X86_64

# memfd_create appeared in glibc 2.27 (one past Amazon Linux 2's 2.26), arc4random in 2.36
# (past Amazon Linux 2023's 2.34); the host's glibc (2.36) gives the .so those versions.
NEEDS_GLIBC_227 = (
    '#define _GNU_SOURCE\n#include <sys/mman.h>\nint f(void){return memfd_create("x",0);}\n'
)
NEEDS_GLIBC_236 = "#include <stdlib.h>\nunsigned g(void){return arc4random();}\n"
PLAIN = "int answer(void){return 42;}\n"


def layer_zip(path: Path, members: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (modes or {}).get(name, stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
    return path


def errors(report: Report, rule: Rule | None = None) -> list[str]:
    return [
        f.file
        for f in report.findings
        if f.severity is Severity.ERROR and (rule is None or f.rule is rule)
    ]


@pytest.fixture
def libraries(tmp_path: Path) -> dict[str, bytes]:
    build = tmp_path / "build"
    build.mkdir()
    return {
        "plain": compile_shared_library(PLAIN, build / "libplain.so").read_bytes(),
        "glibc227": compile_shared_library(NEEDS_GLIBC_227, build / "lib227.so").read_bytes(),
        "glibc236": compile_shared_library(NEEDS_GLIBC_236, build / "lib236.so").read_bytes(),
        "gomp": compile_shared_library(
            "void h(void){}\n", build / "libgomp_user.so", "-Wl,--no-as-needed", "-lgomp"
        ).read_bytes(),
        "bundled_user": compile_shared_library(
            "extern int answer(void); int use(void){return answer();}\n",
            build / "libuser.so",
            f"-L{build}",
            "-lplain",
            "-Wl,-rpath,$ORIGIN/../pkg.libs",
        ).read_bytes(),
    }


def test_clean_layer_passes(tmp_path: Path, libraries: dict[str, bytes]) -> None:
    members = {
        "python/pkg/_ok.cpython-311-x86_64-linux-gnu.so": libraries["plain"],
        "python/pkg/__init__.py": b"",
    }
    target = layer_zip(tmp_path / "ok.zip", members)
    report = verify_layer([target], PY311, X86)
    assert report.passed and report.elf_files == 1 and report.files == 2


def test_symbol_version_newer_than_the_runtime_glibc(
    tmp_path: Path, libraries: dict[str, bytes]
) -> None:
    target = layer_zip(tmp_path / "l.zip", {"python/pkg/_fast.so": libraries["glibc227"]})
    on_al2 = verify_layer([target], PY311, X86)
    finding = next(f for f in on_al2.findings if f.rule is Rule.ELF_SYMBOLS)
    assert finding.file == "python/pkg/_fast.so"
    assert finding.required == "GLIBC_2.27"
    assert "GLIBC_2.26" in finding.allowed
    assert "manylinux_2_26" in finding.fix
    assert verify_layer([target], PY312, X86).passed  # Amazon Linux 2023 has glibc 2.34


def test_symbol_version_newer_than_amazon_linux_2023(
    tmp_path: Path, libraries: dict[str, bytes]
) -> None:
    target = layer_zip(tmp_path / "l.zip", {"python/pkg/_new.so": libraries["glibc236"]})
    report = verify_layer([target], PY312, X86)
    assert [f.required for f in report.findings if f.rule is Rule.ELF_SYMBOLS] == ["GLIBC_2.36"]


def test_library_the_runtime_lacks(tmp_path: Path, libraries: dict[str, bytes]) -> None:
    target = layer_zip(tmp_path / "l.zip", {"python/pkg/_omp.so": libraries["gomp"]})
    report = verify_layer([target], PY311, X86)
    finding = next(f for f in report.findings if f.rule is Rule.ELF_LIBRARIES)
    assert finding.required == "libgomp.so.1"
    assert "known to be absent" in finding.message


def test_bundled_library_found_through_rpath_origin(
    tmp_path: Path, libraries: dict[str, bytes]
) -> None:
    members = {"python/pkg/_user.so": libraries["bundled_user"]}
    missing = verify_layer([layer_zip(tmp_path / "a.zip", members)], PY311, X86)
    assert [f.required for f in missing.findings if f.rule is Rule.ELF_LIBRARIES] == ["libplain.so"]
    members["python/pkg.libs/libplain.so"] = libraries["plain"]
    assert verify_layer([layer_zip(tmp_path / "b.zip", members)], PY311, X86).passed


def test_extension_for_another_python_musl_or_arch(
    tmp_path: Path, libraries: dict[str, bytes]
) -> None:
    so = libraries["plain"]
    target = layer_zip(
        tmp_path / "l.zip",
        {
            "python/pkg/a.cpython-312-x86_64-linux-gnu.so": so,
            "python/pkg/b.cpython-311-x86_64-linux-musl.so": so,
            "python/pkg/c.cpython-311-aarch64-linux-gnu.so": so,
            "python/pkg/d.abi3.so": so,
            "python/pkg/e.cpython-311-x86_64-linux-gnu.so": so,
        },
    )
    report = verify_layer([target], PY311, X86)
    assert sorted(errors(report, Rule.PYTHON_ABI)) == [
        "python/pkg/a.cpython-312-x86_64-linux-gnu.so",
        "python/pkg/b.cpython-311-x86_64-linux-musl.so",
        "python/pkg/c.cpython-311-aarch64-linux-gnu.so",
    ]


def test_windows_and_macos_binaries(tmp_path: Path) -> None:
    target = layer_zip(
        tmp_path / "l.zip",
        {
            "python/pkg/_speedups.pyd": b"MZ\x90\x00" + b"\0" * 60,
            "python/pkg/_mac.so": b"\xcf\xfa\xed\xfe" + b"\0" * 60,
            "python/pkg/Helper.class": b"\xca\xfe\xba\xbe" + b"\0" * 60,
        },
    )
    report = verify_layer([target], PY311, X86)
    assert sorted(errors(report, Rule.FOREIGN_BINARY)) == [
        "python/pkg/_mac.so",
        "python/pkg/_speedups.pyd",
    ]
    assert all("wrong OS" in f.fix for f in report.findings if f.rule is Rule.FOREIGN_BINARY)


def test_unsafe_zip_is_rejected_before_anything_is_read(
    tmp_path: Path, libraries: dict[str, bytes]
) -> None:
    target = layer_zip(
        tmp_path / "l.zip",
        {
            "python/../../etc/cron.d/evil": b"* * * * * root sh\n",
            "python/pkg/_fast.so": libraries["glibc227"],
        },
    )
    report = verify_layer([target], PY311, X86)
    assert errors(report) == ["python/../../etc/cron.d/evil"]
    assert report.elf_files == 0  # nothing was read


def test_links_setuid_devices_duplicates_absolute(tmp_path: Path) -> None:
    link = stat.S_IFLNK | 0o777
    path = tmp_path / "l.zip"
    with zipfile.ZipFile(path, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we write on purpose
        for name, data, mode in [
            ("python/pkg/escape", b"../../../etc/passwd", link),
            ("python/pkg/inside", b"../pkg/__init__.py", link),
            ("python/pkg/tool", b"#!/bin/sh\n", stat.S_IFREG | stat.S_ISUID | 0o755),
            ("python/pkg/fifo", b"", stat.S_IFIFO | 0o644),
            ("python/pkg/__init__.py", b"", stat.S_IFREG | 0o644),
            ("python/pkg/__init__.py", b"x = 1\n", stat.S_IFREG | 0o644),
            ("/python/abs.py", b"", stat.S_IFREG | 0o644),
        ]:
            info = zipfile.ZipInfo(name)
            info.create_system, info.external_attr = 3, mode << 16
            archive.writestr(info, data)
    report = verify_layer([path], PY311, X86)
    assert sorted(errors(report, Rule.LAYOUT)) == [
        "/python/abs.py",
        "python/pkg/__init__.py",
        "python/pkg/escape",
        "python/pkg/fifo",
        "python/pkg/tool",
    ]


def test_placement_rules(tmp_path: Path) -> None:
    nowhere = verify_layer([layer_zip(tmp_path / "a.zip", {"numpy/__init__.py": b""})], PY311, X86)
    assert any("no python/ folder" in f.message for f in nowhere.findings)
    assert any(f.severity is Severity.WARNING and f.file == "numpy" for f in nowhere.findings)
    versioned = layer_zip(tmp_path / "b.zip", {"python/lib/python3.12/site-packages/m.py": b""})
    report = verify_layer([versioned], PY311, X86)
    assert errors(report, Rule.LAYOUT) == ["python/lib/python3.12/site-packages/"]
    assert verify_layer([versioned], PY312, X86).passed


def test_size_budget_and_direct_upload(tmp_path: Path) -> None:
    target = layer_zip(tmp_path / "l.zip", {"python/big.bin": b"\0" * 1_000_000})
    assert verify_layer([target], PY311, X86, function_size=262_144_000 - 2_000_000).passed
    over = verify_layer([target], PY311, X86, function_size=262_144_000 - 500_000)
    assert errors(over, Rule.SIZE) == ["(layer)"]


def test_wheel_tags_of_installed_distributions(tmp_path: Path) -> None:
    wheel = b"Wheel-Version: 1.0\nTag: cp312-cp312-manylinux_2_17_x86_64\n"
    pure = b"Wheel-Version: 1.0\nTag: py3-none-any\n"
    target = layer_zip(
        tmp_path / "l.zip",
        {
            "python/a-1.0.dist-info/WHEEL": wheel,
            "python/b-1.0.dist-info/WHEEL": pure,
        },
    )
    report = verify_layer([target], PY311, X86)
    assert errors(report, Rule.WHEEL_TAGS) == ["python/a-1.0.dist-info/WHEEL"]
    assert verify_layer([target], PY312, X86).passed


def test_folder_target_and_the_python_folder_itself(
    tmp_path: Path, libraries: dict[str, bytes]
) -> None:
    package = tmp_path / "layer" / "python" / "pkg"
    package.mkdir(parents=True)
    (package / "_fast.so").write_bytes(libraries["glibc227"])
    for target in (tmp_path / "layer", tmp_path / "layer" / "python"):
        report = verify_layer([target], PY311, X86)
        assert errors(report, Rule.ELF_SYMBOLS) == ["python/pkg/_fast.so"]


def test_fast_reader_agrees_with_pyelftools(libraries: dict[str, bytes]) -> None:
    for data in libraries.values():
        fast = read_elf_facts(io.BytesIO(data))
        assert fast == read_elf_facts_with_pyelftools(io.BytesIO(data))
        assert fast.machine == 62 and fast.elf_class == 64
    user = read_elf_facts(io.BytesIO(libraries["bundled_user"]))
    assert "libplain.so" in user.needed
    assert user.runpath + user.rpath == ("$ORIGIN/../pkg.libs",)


def test_not_an_elf_file_is_reported() -> None:
    with pytest.raises(ValueError, match="not an ELF"):
        read_elf_facts(io.BytesIO(b"#!/bin/sh\n"))


def test_cli_exit_codes_and_json_schema(
    tmp_path: Path, libraries: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    schema = json.loads(
        (Path(__file__).parents[2] / "layerforge/data/verify-report.schema.json").read_text()
    )
    good = layer_zip(tmp_path / "good.zip", {"python/pkg/_ok.so": libraries["plain"]})
    bad = layer_zip(tmp_path / "bad.zip", {"python/pkg/_fast.so": libraries["glibc227"]})
    assert main(["verify-abi", str(good), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, schema)
    assert document["passed"] is True
    assert main(["verify-abi", str(bad), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, schema)
    assert document["counts"]["error"] == 1
    assert main(["verify-abi", str(bad), "--runtime", "python3.12"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["verify-abi", str(tmp_path / "absent.zip")]) == 2
    assert main(["verify-abi", str(bad), "--arch", "mips"]) == 2
