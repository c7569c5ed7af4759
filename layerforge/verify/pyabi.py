"""Rule ``python-abi``: extension modules named for another Python, libc or architecture."""

from __future__ import annotations

import re
from collections.abc import Sequence

from layerforge.runtimes import Architecture, Runtime
from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.source import Entry

__all__ = ["check_python_abi"]

# e.g. _multiarray_umath.cpython-311-x86_64-linux-gnu.so, foo.cpython-312d-aarch64-linux-musl.so
_EXTENSION = re.compile(
    r"\.cpython-(?P<version>\d)(?P<minor>\d+)(?P<flags>[a-z]*)-(?P<machine>[a-z0-9_]+)"
    r"-linux-(?P<libc>gnu|musl)\.so$"
)


def _problems(match: re.Match[str], runtime: Runtime, arch: Architecture) -> list[str]:
    problems = []
    version = f"{match['version']}.{match['minor']}"
    if version != runtime.python_version:
        problems.append(f"built for CPython {version}, the runtime is {runtime.python_version}")
    if match["flags"]:
        problems.append(f"ABI flags '{match['flags']}' (a debug or special build)")
    if match["libc"] != "gnu":
        problems.append(f"built for {match['libc']} libc; Lambda uses glibc")
    if match["machine"] != arch.platform:
        problems.append(f"built for {match['machine']}, the runtime is {arch.platform}")
    return problems


def check_python_abi(
    entries: Sequence[Entry], runtime: Runtime, arch: Architecture
) -> list[Finding]:
    findings = []
    expected = f".cpython-{runtime.python[0]}{runtime.python[1]}-{arch.platform}-linux-gnu.so"
    for entry in entries:
        match = _EXTENSION.search(entry.path)
        if match is None:
            continue
        problems = _problems(match, runtime, arch)
        if problems:
            findings.append(
                Finding(
                    Rule.PYTHON_ABI,
                    Severity.ERROR,
                    entry.path,
                    "extension module for another interpreter: " + "; ".join(problems),
                    required=match.group(0),
                    allowed=f"{expected} or .abi3.so",
                    fix=f"rebuild with layerforge build --runtime {runtime.name} "
                    f"--arch {arch.value}",
                )
            )
    return findings
