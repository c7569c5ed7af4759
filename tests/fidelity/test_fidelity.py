"""verify-abi against the corpus: no false accepts, and no false rejects without a reason; and
each crafted case's claim about the real tools (the host's loader, pip) checked against them."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from layerforge.runtimes import Architecture, get_runtime, supported_tags
from layerforge.verify import Severity, verify_layer
from tests.fidelity.corpus import CASES, TARGETS, Case, Oracle, artifact

pytestmark = [pytest.mark.network, pytest.mark.slow]

PAIRS = [(case, target) for case in CASES for target in TARGETS if target in case.expected]
CLAIMS = [(case, oracle) for case in CASES for oracle in case.oracles]
_EXTENSION = re.compile(r"\.(abi3|cpython-\d+-[a-z0-9_]+-linux-gnu)\.so$")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fidelity")


@pytest.mark.parametrize(
    ("case", "target"), PAIRS, ids=[f"{c.name}@{t[0]}-{t[1]}" for c, t in PAIRS]
)
def test_verdict_matches_the_loader(case: Case, target: tuple[str, str], work: Path) -> None:
    path = artifact(case, work)
    expected = case.expected[target]
    report = verify_layer([path], get_runtime(target[0]), Architecture.parse(target[1]))
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    assert not {f.rule.value for f in errors} & set(expected.forbidden), errors
    if expected.verdict == "load":
        assert report.passed, f"false reject ({expected.reason}): {errors}"
        for rule in case.warnings:
            assert any(
                f.rule.value == rule and f.severity is Severity.WARNING for f in report.findings
            ), (rule, report.findings)
    else:
        assert not report.passed, f"false accept: {expected.reason}"
        if expected.rule:
            assert expected.rule in {f.rule.value for f in errors}, (expected, errors)


def _extract(layer: Path, into: Path) -> Path:
    """A layer zip as Lambda extracts it to /opt, its symlink members as links."""
    with zipfile.ZipFile(layer) as archive:
        for info in archive.infolist():
            target = into / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(info.external_attr >> 16):
                target.symlink_to(archive.read(info).decode())
            else:
                target.write_bytes(archive.read(info))
    return into


def _installed(path: Path, into: Path) -> Path:
    """What /opt holds: a wheel installed by pip itself (told the wheel's own tags, so it
    installs one for another machine too), a layer zip extracted, a folder as it is."""
    if path.suffix == ".whl":
        tag = next(iter(parse_wheel_filename(path.name)[3]))
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
        wanted = ["--only-binary=:all:", "--platform", tag.platform, "--abi", tag.abi]
        wanted += ["--implementation", "cp", "--python-version", tag.interpreter[2:]]
        command = [*pip, *wanted, "--target", str(into / "python"), str(path)]
        subprocess.run(command, check=True)
        return into
    return _extract(path, into) if path.suffix == ".zip" else path


_PROBE = "import ctypes, sys\nfor path in sys.argv[1:]:\n    ctypes.CDLL(path, mode=2)\n"


def _dlopen_verdict(root: Path, arm64_root: Path | None) -> tuple[str, str]:
    """Every extension module dlopened RTLD_NOW (as Python imports), in a process of its own
    (a loader assertion aborts it): by this host's glibc, or by an arm64 root filesystem's
    (under qemu-user, the layer mounted at /opt)."""
    modules = sorted(p for p in root.rglob("*.so") if _EXTENSION.search(p.name))
    assert modules, f"no extension module under {root}"
    if arm64_root is None:
        command = [sys.executable, "-c", _PROBE, *map(str, modules)]
    else:
        inside = [f"/opt/{p.relative_to(root)}" for p in modules]
        sandbox = ["bwrap", "--ro-bind", str(arm64_root), "/", "--ro-bind", str(root), "/opt"]
        sandbox += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        command = [*sandbox, "/usr/bin/python3", "-c", _PROBE, *inside]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    return ("load" if done.returncode == 0 else "refuse"), done.stderr[-400:]


def _pip_verdict(wheel: Path, runtime: str, into: Path) -> tuple[str, str]:
    """Whether pip selects the wheel for the runtime's interpreter and platform tags."""
    target = get_runtime(runtime)
    platforms = sorted({t.platform for t in supported_tags(target, Architecture.X86_64)})
    abi = "cp" + target.python_version.replace(".", "")
    command = [
        *(sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index"),
        *("--only-binary=:all:", "--target", str(into), "--implementation", "cp"),
        *("--python-version", target.python_version, "--abi", abi, "--abi", "abi3"),
        *(arg for platform in platforms for arg in ("--platform", platform)),
        str(wheel),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return ("load" if done.returncode == 0 else "refuse"), done.stderr[-400:]


@pytest.mark.parametrize(
    ("case", "oracle"),
    CLAIMS,
    ids=[f"{c.name}:{o.kind}{'@' + o.runtime if o.runtime else ''}" for c, o in CLAIMS],
)
def test_the_real_tool_agrees(
    case: Case, oracle: Oracle, work: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = artifact(case, work)
    if oracle.kind.startswith("dlopen"):
        arm64 = request.getfixturevalue("arm64_rootfs") if oracle.kind.endswith("arm64") else None
        verdict, output = _dlopen_verdict(_installed(path, tmp_path / "opt"), arm64)
    else:
        verdict, output = _pip_verdict(path, oracle.runtime, tmp_path / "target")
    assert verdict == oracle.verdict, output
