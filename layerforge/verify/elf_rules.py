"""Rules ``elf-arch``, ``elf-symbols``, ``elf-libraries``: will the loader accept each ELF file.

``elf-arch`` compares machine, class and byte order. ``elf-symbols`` asks every library a
file needs a symbol version from whether it defines that version: a system library on the
runtime's OS (glibc's families up to the runtime's glibc, glibc's named ABI tags such as
GLIBC_ABI_DT_RELR by the release that introduced them, and the families other libraries define:
a libcrypt.so.1 that must define XCRYPT_2.0 is not glibc's), a library of the layer by its own
DT_VERDEF. A requirement flagged VER_FLG_WEAK is not fatal (glibc's ``match_symbol``): only a
strong reference to a symbol of that version is. ``elf-libraries`` follows the dynamic loader's
search (``verify.loader``) and auditwheel's symbol blacklist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from layerforge.runtimes import Architecture, Runtime
from layerforge.verify.elf import ElfFacts, UndefinedSymbol, WeakNeed
from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.loader import Resolution
from layerforge.verify.policy import AbiPolicy, libpython_rule, version_key

__all__ = [
    "check_architecture",
    "check_blacklist",
    "check_bundled_versions",
    "check_libraries",
    "check_symbols",
    "check_weak_versions",
    "unmet_weak_versions",
]

_MACHINES = {3: "i386", 62: "x86_64", 40: "arm", 183: "aarch64", 243: "riscv", 21: "ppc64"}
_LIBPYTHON = re.compile(r"^libpython(\d+)\.(\d+)[a-z]*\.so")


def _rebuild_fix(runtime: Runtime, arch: Architecture) -> str:
    return f"rebuild with layerforge build --runtime {runtime.name} --arch {arch.value}"


def check_architecture(
    path: str, facts: ElfFacts, runtime: Runtime, arch: Architecture, policy: AbiPolicy
) -> list[Finding]:
    """Machine, class and byte order: what neither the kernel nor the loader maps otherwise
    (glibc: "ELF file data encoding not little-endian"; both Lambda architectures are
    little-endian, so an aarch64_be object is refused)."""
    order = facts.ident.byte_order
    if (
        facts.machine == arch.elf_machine
        and facts.elf_class == arch.elf_class
        and order == policy.identity.byte_order
    ):
        return []
    built_for = _MACHINES.get(facts.machine, f"machine {facts.machine}")
    wanted = policy.identity.byte_order
    endian = (
        f", {order}-endian: 'ELF file data encoding not {wanted}-endian'" if order != wanted else ""
    )
    return [
        Finding(
            Rule.ELF_ARCH,
            Severity.ERROR,
            path,
            f"built for {built_for} ({facts.elf_class}-bit{endian}); the runtime is "
            f"{arch.platform} ({wanted}-endian)",
            required=f"e_machine {facts.machine}, ELFCLASS{facts.elf_class}, {order}-endian",
            allowed=f"e_machine {arch.elf_machine}, ELFCLASS{arch.elf_class}, "
            f"{policy.identity.byte_order}-endian",
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


def _bundled(
    library: str, resolutions: Mapping[str, Resolution], elves: Mapping[str, ElfFacts]
) -> tuple[str, ElfFacts] | None:
    """The layer's own file the loader found for ``library``, with its facts."""
    resolution = resolutions.get(library)
    if resolution is None or resolution.found in (None, "system"):
        return None
    found = str(resolution.found)
    facts = elves.get(found)
    return None if facts is None else (found, facts)


_UNVERSIONED = (
    "defines no symbol versions at all: glibc skips the version check, then aborts the "
    "process when it binds a symbol of that version there (ld.so's check_match assertion)"
)


def _undefined(library: str, version: str, found: str, facts: ElfFacts) -> str | None:
    """Why the bundled ``found`` lacks ``version``, or None when it defines it."""
    if facts.definitions is None:
        return f"{found} {_UNVERSIONED}"
    if version in facts.definitions:
        return None
    defined = [name for name in facts.definitions if name not in (facts.soname, library)]
    return f"{found} defines only {', '.join(defined) or 'its base version'}"


def check_bundled_versions(
    path: str,
    facts: ElfFacts,
    resolutions: Mapping[str, Resolution],
    elves: Mapping[str, ElfFacts],
) -> list[Finding]:
    """Versions required from a library of the layer must be in that library's DT_VERDEF
    (glibc: "version `FOO_2.0' not found (required by ...)"); a library with no DT_VERDEF at
    all fails every requirement, weak ones included."""
    required = [*facts.versioned, *((n.library, n.version) for n in facts.weak)]
    missing = []
    for library, version in required:
        bundled = _bundled(library, resolutions, elves)
        if bundled is None or (
            (library, version) not in facts.versioned and bundled[1].definitions is not None
        ):
            continue  # weak requirements of a versioned library: unmet_weak_versions
        reason = _undefined(library, version, *bundled)
        if reason is not None:
            missing.append((version, reason))
    if not missing:
        return []
    return [
        Finding(
            Rule.ELF_SYMBOLS,
            Severity.ERROR,
            path,
            "needs symbol versions its bundled libraries do not define: "
            + "; ".join(f"{version}: {reason}" for version, reason in missing[:3]),
            required=", ".join(sorted({version for version, _ in missing})),
            allowed="the versions the bundled library defines (.gnu.version_d)",
            fix="bundle the build of the library this file was linked against (auditwheel "
            "repair grafts it), or rebuild the file against the bundled one",
        )
    ]


def unmet_weak_versions(
    facts: ElfFacts,
    policy: AbiPolicy,
    resolutions: Mapping[str, Resolution],
    elves: Mapping[str, ElfFacts],
) -> list[tuple[WeakNeed, str]]:
    """Requirements flagged VER_FLG_WEAK that neither the system nor the layer provides."""
    unmet = []
    for need in facts.weak:
        verdict = policy.judge(need.library, need.version)
        bundled = _bundled(need.library, resolutions, elves)
        reason = verdict.reason if verdict is not None else None
        if reason is None and bundled is not None and bundled[1].definitions is not None:
            reason = _undefined(need.library, need.version, *bundled)
        if reason is not None:
            unmet.append((need, reason))
    return unmet


def check_weak_versions(
    path: str, unmet: Sequence[tuple[WeakNeed, str]], symbols: Sequence[UndefinedSymbol]
) -> list[Finding]:
    """A missing weak version is not fatal to the loader (glibc's match_symbol), but a strong
    reference to a symbol of that version still fails to bind ("undefined symbol")."""
    findings = []
    for need, reason in unmet:
        index = need.version_index
        strong = sorted(s.name for s in symbols if s.version_index == index and not s.weak)
        if strong:
            findings.append(
                Finding(
                    Rule.ELF_SYMBOLS,
                    Severity.ERROR,
                    path,
                    f"binds {strong[0]}@{need.version} by a strong reference; the version is "
                    f"flagged weak, but {reason}: the loader fails with 'undefined symbol'",
                    required=f"{need.version} ({', '.join(strong[:3])})",
                    allowed=f"what {need.library} defines",
                    fix="use a build that does not need it, or make the references weak",
                )
            )
            continue
        findings.append(
            Finding(
                Rule.ELF_SYMBOLS,
                Severity.INFO,
                path,
                f"weak version {need.version} of {need.library} is not there ({reason}): the "
                "loader goes on, and the weak symbols of that version resolve to NULL",
                required=need.version,
                allowed=f"what {need.library} defines",
            )
        )
    return findings
