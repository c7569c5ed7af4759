"""Rules ``elf-arch``, ``elf-symbols``, ``elf-libraries``: will the loader accept each ELF file.

``elf-symbols`` asks every system library a file needs a symbol version from whether it defines
that version on the runtime's OS (glibc's families up to the runtime's glibc, glibc's named ABI
tags such as GLIBC_ABI_DT_RELR by the release that introduced them, and the families other
libraries define: a libcrypt.so.1 that must define XCRYPT_2.0 is not glibc's). ``elf-libraries``
follows the dynamic loader's search (``verify.loader``) and auditwheel's symbol blacklist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from layerforge.runtimes import Architecture, Runtime
from layerforge.verify.elf import ElfFacts
from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.loader import Resolution
from layerforge.verify.policy import AbiPolicy, libpython_rule, version_key

__all__ = ["check_architecture", "check_blacklist", "check_libraries", "check_symbols"]

_MACHINES = {3: "i386", 62: "x86_64", 40: "arm", 183: "aarch64", 243: "riscv", 21: "ppc64"}
_LIBPYTHON = re.compile(r"^libpython(\d+)\.(\d+)[a-z]*\.so")


def _rebuild_fix(runtime: Runtime, arch: Architecture) -> str:
    return f"rebuild with layerforge build --runtime {runtime.name} --arch {arch.value}"


def check_architecture(
    path: str, facts: ElfFacts, runtime: Runtime, arch: Architecture
) -> list[Finding]:
    if facts.machine == arch.elf_machine and facts.elf_class == arch.elf_class:
        return []
    built_for = _MACHINES.get(facts.machine, f"machine {facts.machine}")
    return [
        Finding(
            Rule.ELF_ARCH,
            Severity.ERROR,
            path,
            f"built for {built_for} ({facts.elf_class}-bit); the runtime is {arch.platform}",
            required=f"e_machine {facts.machine}, ELFCLASS{facts.elf_class}",
            allowed=f"e_machine {arch.elf_machine}, ELFCLASS{arch.elf_class}",
            fix=_rebuild_fix(runtime, arch),
        )
    ]


def _newest(versions: Iterable[str]) -> list[str]:
    """The newest version per family (``GLIBC_2.28`` of GLIBC_2.27 and GLIBC_2.28)."""
    newest: dict[str, str] = {}
    for name in versions:
        family = name.partition("_")[0]
        current = newest.get(family)
        if current is None or version_key(name) > version_key(current):
            newest[family] = name
    return sorted(newest.values())


def check_symbols(
    path: str, facts: ElfFacts, runtime: Runtime, arch: Architecture, policy: AbiPolicy
) -> list[Finding]:
    verdicts = [
        (library, version, policy.judge(library, version)) for library, version in facts.versioned
    ]
    refused = [(lib, ver, v) for lib, ver, v in verdicts if v is not None]
    if not refused:
        return []
    libraries = sorted({lib for lib, _, _ in refused})
    reasons = sorted({v.reason for _, _, v in refused if v is not None})
    return [
        Finding(
            Rule.ELF_SYMBOLS,
            Severity.ERROR,
            path,
            f"needs symbol versions {runtime.os} does not provide (from {', '.join(libraries)}): "
            + "; ".join(reasons[:3]),
            required=", ".join(_newest(ver for _, ver, _ in refused)),
            allowed="; ".join(sorted({v.allowed for _, _, v in refused if v is not None}))
            + f" (glibc {runtime.glibc})",
            fix=f"use a wheel tagged manylinux_2_{runtime.glibc.minor} or older "
            f"({_rebuild_fix(runtime, arch)}), or a runtime with a newer glibc",
        )
    ]


def _libpython(path: str, library: str, runtime: Runtime) -> Finding | None:
    match = _LIBPYTHON.match(library)
    if match is None:
        return None
    version = f"{match.group(1)}.{match.group(2)}"
    rule = libpython_rule()
    same = version == runtime.python_version
    severity = Severity.WARNING if same and rule["same_version"] == "warning" else Severity.ERROR
    message = (
        f"linked against {library}: only the runtime's own libpython exists there, and "
        "manylinux forbids linking against it"
        if same
        else f"linked against {library}, but {runtime.name} has Python {runtime.python_version}"
    )
    return Finding(
        Rule.ELF_LIBRARIES,
        severity,
        path,
        message,
        required=library,
        allowed=f"libpython{runtime.python_version} (or none)",
        fix=f"use a wheel built for {runtime.name} without libpython",
    )


def check_libraries(
    path: str, resolutions: Iterable[Resolution], runtime: Runtime, policy: AbiPolicy
) -> list[Finding]:
    findings = []
    for resolution in resolutions:
        library = resolution.library
        special = _libpython(path, library, runtime)
        if special is not None:
            findings.append(special)
            continue
        if resolution.found is not None:
            continue
        known = library in policy.known_absent
        searched = ", ".join(f"/opt/{f}" for f in resolution.searched) or "no layer folder"
        findings.append(
            Finding(
                Rule.ELF_LIBRARIES,
                Severity.ERROR,
                path,
                f"needs {library}, which the loader finds neither in the layer (searched: "
                f"{searched}) nor in the {runtime.os} image"
                + (" (known to be absent from Lambda)" if known else ""),
                required=library,
                allowed="bundled where the loader looks (RPATH/RUNPATH with $ORIGIN, /opt/lib) "
                "or a system library",
                fix="use a wheel that bundles it (auditwheel repair sets the RPATH), or put the "
                "library under the layer's lib/ folder",
            )
        )
    return findings


def check_blacklist(
    path: str, needed: Iterable[str], imported: frozenset[str], policy: AbiPolicy
) -> list[Finding]:
    """Symbols a system library does not export (auditwheel's blacklist)."""
    findings = []
    for library in needed:
        banned = sorted(imported & policy.blacklist.get(library, frozenset()))
        if banned:
            findings.append(
                Finding(
                    Rule.ELF_SYMBOLS,
                    Severity.ERROR,
                    path,
                    f"imports symbols the system {library} does not export: "
                    + ", ".join(banned[:5]),
                    required=", ".join(banned[:5]),
                    allowed=f"the public API of {library}",
                    fix="it was linked against a private copy: bundle that copy (auditwheel "
                    "repair), or use a wheel that does",
                )
            )
    return findings
