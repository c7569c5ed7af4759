"""Rules ``elf-arch``, ``elf-symbols``, ``elf-libraries``: will the loader accept each ELF file."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from layerforge.runtimes import Architecture, Runtime
from layerforge.verify.elf import ElfFacts
from layerforge.verify.model import Finding, Rule, Severity
from layerforge.verify.policy import AbiPolicy, version_key

__all__ = ["check_elf"]

_MACHINES = {3: "i386", 62: "x86_64", 40: "arm", 183: "aarch64", 243: "riscv", 21: "ppc64"}
_LAYER_ROOT = "/opt"


def _rebuild_fix(runtime: Runtime, arch: Architecture) -> str:
    return f"rebuild with layerforge build --runtime {runtime.name} --arch {arch.value}"


def _check_architecture(
    path: str, facts: ElfFacts, runtime: Runtime, arch: Architecture
) -> list[Finding]:
    if facts.machine == arch.elf_machine and facts.elf_class == arch.elf_class:
        return []
    built_for = _MACHINES.get(facts.machine, f"machine {facts.machine}")
    return [
        Finding(
            Rule.ELF_ARCH, Severity.ERROR, path,
            f"built for {built_for} ({facts.elf_class}-bit); the runtime is {arch.platform}",
            required=f"e_machine {facts.machine}, ELFCLASS{facts.elf_class}",
            allowed=f"e_machine {arch.elf_machine}, ELFCLASS{arch.elf_class}",
            fix=_rebuild_fix(runtime, arch),
        )
    ]  # fmt: skip


def _newest_per_family(versions: Iterable[str]) -> dict[str, str]:
    newest: dict[str, str] = {}
    for name in versions:
        family = name.partition("_")[0]
        if family not in newest or version_key(name) > version_key(newest[family]):
            newest[family] = name
    return newest


def _check_symbols(
    path: str, facts: ElfFacts, runtime: Runtime, arch: Architecture, policy: AbiPolicy
) -> list[Finding]:
    too_new = [
        (library, name)
        for library, name in facts.versioned
        if library in policy.system_libraries and policy.exceeds(name)
    ]
    if not too_new:
        return []
    newest = _newest_per_family(name for _, name in too_new)
    libraries = sorted({library for library, _ in too_new})
    allowed = ", ".join(
        f"{family}_{policy.maxima[family]}" for family in sorted(newest) if family in policy.maxima
    )
    return [
        Finding(
            Rule.ELF_SYMBOLS, Severity.ERROR, path,
            f"needs symbol versions newer than {runtime.os} provides "
            f"(from {', '.join(libraries)})",
            required=", ".join(newest[f] for f in sorted(newest)),
            allowed=f"<= {allowed} (glibc {runtime.glibc})",
            fix=f"use a wheel tagged manylinux_2_{runtime.glibc.minor} or older "
            f"({_rebuild_fix(runtime, arch)}), or a runtime with a newer glibc",
        )
    ]  # fmt: skip


def _search_folders(path: str, facts: ElfFacts) -> list[str]:
    """Folders (inside the layer, POSIX, no leading slash) the loader searches for this file."""
    origin = posixpath.dirname(path)
    folders = [origin, "lib"]
    for entry in facts.rpath + facts.runpath:
        expanded = entry.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
        if expanded.startswith(_LAYER_ROOT + "/"):
            expanded = expanded[len(_LAYER_ROOT) + 1 :]
        folders.append(posixpath.normpath(expanded))
    return folders


def _check_libraries(
    path: str, facts: ElfFacts, runtime: Runtime, layer_files: frozenset[str], policy: AbiPolicy
) -> list[Finding]:
    folders = _search_folders(path, facts)
    findings = []
    for library in facts.needed:
        if library in policy.system_libraries or library.startswith("libpython"):
            continue
        if any(posixpath.join(folder, library) in layer_files for folder in folders):
            continue
        known = library in policy.known_absent
        findings.append(
            Finding(
                Rule.ELF_LIBRARIES, Severity.ERROR, path,
                f"needs {library}, which is neither in the layer nor in the {runtime.os} image"
                + (" (known to be absent from Lambda)" if known else ""),
                required=library,
                allowed="bundled in the layer (RPATH/RUNPATH, $ORIGIN, lib/) or a system library",
                fix="use a wheel that bundles it (auditwheel repair), or add the library "
                "under the layer's lib/ folder",
            )
        )  # fmt: skip
    return findings


def check_elf(
    path: str,
    facts: ElfFacts,
    *,
    runtime: Runtime,
    arch: Architecture,
    policy: AbiPolicy,
    layer_files: frozenset[str],
) -> list[Finding]:
    """Every ELF rule for one file; symbols and libraries only when the machine is right."""
    wrong_machine = _check_architecture(path, facts, runtime, arch)
    if wrong_machine:
        return wrong_machine
    return _check_symbols(path, facts, runtime, arch, policy) + _check_libraries(
        path, facts, runtime, layer_files, policy
    )
