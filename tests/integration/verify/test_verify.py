"""verify-abi on real layers and real wheels from the package index."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.interpreters import find_interpreter
from layerforge.runtimes import Architecture, get_runtime
from layerforge.verify import Rule, Severity, verify_layer
from layerforge.verify.elf import read_elf_facts, read_elf_facts_with_pyelftools

pytestmark = [pytest.mark.network, pytest.mark.slow]

PY311, PY312 = get_runtime("python3.11"), get_runtime("python3.12")
X86, ARM = Architecture.X86_64, Architecture.ARM64


def download_wheel(folder: Path, requirement: str, platform: str, python: str) -> Path:
    subprocess.run(
        [
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(folder),
            "--platform",
            platform,
            "--python-version",
            python,
            "--implementation",
            "cp",
            requirement,
        ],
        check=True,
    )
    return next(folder.glob("*.whl"))


def test_seed_layer_built_by_layerforge_passes(seed_build: dict[str, Any]) -> None:
    report = verify_layer([Path(seed_build["output"])], PY311, X86)
    assert report.passed, [f for f in report.findings if f.severity is Severity.ERROR]
    assert report.elf_files > 90
    assert seed_build["verification"]["passed"] is True


def test_plain_recipe_seed_layer_passes_and_fails_on_the_wrong_arch(
    plain_recipe_layer: Path,
) -> None:
    report = verify_layer([plain_recipe_layer], PY311, X86)
    assert report.passed, [f for f in report.findings if f.severity is Severity.ERROR]
    assert report.files > 7000
    on_arm = verify_layer([plain_recipe_layer], PY311, ARM)
    arch_errors = {f.file for f in on_arm.findings if f.rule is Rule.ELF_ARCH}
    assert "python/numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so" in arch_errors
    assert len(arch_errors) == report.elf_files


def test_fast_elf_reader_matches_pyelftools_on_every_elf_file(seed_build: dict[str, Any]) -> None:
    with zipfile.ZipFile(seed_build["output"]) as archive:
        compared = 0
        for name in archive.namelist():
            data = archive.read(name)
            if data[:4] != b"\x7fELF":
                continue
            fast = read_elf_facts(io.BytesIO(data))
            assert fast == read_elf_facts_with_pyelftools(io.BytesIO(data)), name
            compared += 1
    assert compared > 90


def test_plain_pip_install_on_a_new_glibc_host_fails_for_python311(tmp_path: Path) -> None:
    """pip -t without --platform on this glibc 2.36 host picks numpy's manylinux_2_28 wheel."""
    python312 = find_interpreter((3, 12))
    assert python312 is not None, "the CI machine has Python 3.12 (pyenv)"
    target = tmp_path / "python"
    subprocess.run(
        [
            python312.path,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "-t",
            str(target),
            "numpy==2.3.5",
        ],
        check=True,
    )
    on_al2023 = verify_layer([tmp_path], PY312, X86)
    assert on_al2023.passed, [f for f in on_al2023.findings if f.severity is Severity.ERROR]
    on_py311 = verify_layer([tmp_path], PY311, X86)
    symbols = [f for f in on_py311.findings if f.rule is Rule.ELF_SYMBOLS]
    assert symbols, "GLIBC_2.27+ requirements must be reported"
    assert all(f.required.startswith(("GLIBC_2.2", "GLIBC_2.3", "GLIBCXX")) for f in symbols)
    assert any("GLIBC_2.27" in f.required or "GLIBC_2.28" in f.required for f in symbols)
    files = {f.file for f in symbols}
    assert any("_multiarray_umath" in f for f in files)
    assert {f.file for f in on_py311.findings if f.rule is Rule.WHEEL_TAGS} == {
        "python/numpy-2.3.5.dist-info/WHEEL"
    }


def test_arm64_wheel_checked_as_x86_64_and_the_reverse(tmp_path: Path) -> None:
    arm = download_wheel(tmp_path / "arm", "numpy==2.1.3", "manylinux2014_aarch64", "3.12")
    x86 = download_wheel(tmp_path / "x86", "numpy==2.1.3", "manylinux2014_x86_64", "3.12")
    assert verify_layer([arm], PY312, ARM).passed
    assert verify_layer([x86], PY312, X86).passed
    for wheel, wrong in ((arm, X86), (x86, ARM)):
        report = verify_layer([wheel], PY312, wrong)
        rules = {f.rule for f in report.findings if f.severity is Severity.ERROR}
        assert {Rule.ELF_ARCH, Rule.WHEEL_TAGS, Rule.PYTHON_ABI} <= rules
    # two builds of one package in one layer collide: rejected as duplicates, nothing read
    both = verify_layer([arm, x86], PY312, X86)
    assert not both.passed and both.elf_files == 0
    assert all("duplicate entry" in f.message for f in both.findings)
