"""Rule ``elf-loader``: what glibc's loader checks of each object it maps, beyond its name.

Everything a layer holds reaches the loader through ``dlopen``: Python opens extension modules
with it, and their DT_NEEDED libraries are mapped in the same call. ``open_verify`` compares the
identification first: ELF version 1, OS ABI SYSV or GNU, an ABI version of 0 (or, with OS ABI
GNU, one the runtime's glibc knows), zero padding. An object loaded that way must then be a
shared library: ``ET_EXEC`` is never loaded ("cannot dynamically load executable"), nor an
``ET_DYN`` without a dynamic section, nor one flagged DF_1_NOOPEN; a position-independent
executable (DF_1_PIE) is refused from glibc 2.30 on (2.26 still maps it). Executables run from
``bin/`` are not dlopened and may be any of these; the runtime's ld.so relocates them unless
they are static (no PT_INTERP: a static-pie relocates itself, DT_RELR included).

Relocations in the DT_RELR format are applied only by glibc 2.36 and later; linkers mark such
objects with a GLIBC_ABI_DT_RELR requirement (``elf-symbols`` judges it), and an object without
the marker would load with its pointers unrelocated, so the tags themselves are judged here.
"""

from __future__ import annotations

from layerforge.runtimes import Runtime
from layerforge.verify.elf import ElfFacts
from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.policy import AbiPolicy

__all__ = ["DF_1_NOOPEN", "DF_1_PIE", "check_loadable"]

DF_1_NOOPEN, DF_1_PIE = 0x40, 0x08000000
_ET_EXEC, _ET_DYN = 2, 3
_RELR_MARKER = "GLIBC_ABI_DT_RELR"
_LIBRARY_FIX = "use a build of it linked as a shared library (-shared, not -pie or -no-pie)"


def _error(path: str, message: str, required: str, fix: str = _LIBRARY_FIX) -> Finding:
    return Finding(
        Rule.ELF_LOADER,
        Severity.ERROR,
        path,
        message,
        required=required,
        allowed="a shared library (ET_DYN with a dynamic section)",
        fix=fix,
    )


def _identity(facts: ElfFacts, policy: AbiPolicy) -> list[str]:
    """What glibc's open_verify refuses in the identification, in its own order (the kernel
    does not look at these, so an executable run from bin/ is not judged by them)."""
    ident, accepted = facts.ident, policy.identity
    problems = []
    if ident.ident_version != 1 or ident.version != 1:
        problems.append(f"ELF version {ident.ident_version}/{ident.version}, not the current 1")
    if ident.osabi not in accepted.osabi:
        problems.append(f"OS ABI {ident.osabi} ('ELF file OS ABI invalid')")
    elif ident.abi_version and not (
        accepted.osabi[ident.osabi] == "GNU/Linux"
        and ident.abi_version < accepted.abi_version_below
    ):
        problems.append(
            f"ABI version {ident.abi_version} ('ELF file ABI version invalid': glibc "
            f"{policy.glibc} takes 0, or below {accepted.abi_version_below} with OS ABI GNU)"
        )
    if not ident.padding_clean:
        problems.append("nonzero padding in e_ident")
    return problems


def _as_library(path: str, facts: ElfFacts, runtime: Runtime, policy: AbiPolicy) -> list[Finding]:
    problems = _identity(facts, policy)
    if problems:
        allowed = " or ".join(f"{k} ({v})" for k, v in sorted(policy.identity.osabi.items()))
        return [
            Finding(
                Rule.ELF_LOADER,
                Severity.ERROR,
                path,
                "an identification dlopen refuses: " + "; ".join(problems),
                required=f"OS ABI {facts.ident.osabi}, ABI version {facts.ident.abi_version}",
                allowed=f"OS ABI {allowed}",
                fix="use the package's Linux build (a GNU toolchain writes SYSV or GNU)",
            )
        ]
    kind = facts.ident.kind
    if kind == _ET_EXEC:
        return [
            _error(
                path,
                "an executable (ET_EXEC), not a shared library: dlopen refuses it "
                "('cannot dynamically load executable')",
                "ET_EXEC",
            )
        ]
    if kind == _ET_DYN and not facts.dynamic:
        return [
            _error(
                path,
                "no dynamic section: the loader refuses it ('object file has no dynamic section')",
                "ET_DYN without PT_DYNAMIC",
            )
        ]
    findings = []
    if facts.flags_1 & DF_1_PIE:
        since = policy.dlopen_refuses_pie
        if policy.glibc_at_least(since):
            findings.append(
                _error(
                    path,
                    f"a position-independent executable (DF_1_PIE), not a shared "
                    f"library: glibc {policy.glibc} refuses to dlopen it since {since} "
                    "('cannot dynamically load position-independent executable')",
                    "DF_1_PIE",
                )
            )
        else:
            findings.append(
                Finding(
                    Rule.ELF_LOADER,
                    Severity.WARNING,
                    path,
                    f"a position-independent executable (DF_1_PIE): glibc {policy.glibc} "
                    f"({runtime.os}) still dlopens it, glibc {since} and later refuse it",
                    required="DF_1_PIE",
                    allowed="a shared library",
                    fix=_LIBRARY_FIX,
                )
            )
    if facts.flags_1 & DF_1_NOOPEN:
        findings.append(
            _error(
                path,
                "flagged DF_1_NOOPEN (linked with -z nodlopen): dlopen refuses it "
                "('shared object cannot be dlopen()ed')",
                "DF_1_NOOPEN",
                "relink it without -z nodlopen",
            )
        )
    return findings


def _relocations(path: str, facts: ElfFacts, policy: AbiPolicy) -> list[Finding]:
    """DT_RELR in an object the runtime's ld.so relocates (a static-pie relocates itself)."""
    introduced = policy.glibc_named.get(_RELR_MARKER, "")
    marked = any(version == _RELR_MARKER for _, version in facts.versioned)
    if not facts.relr or marked or policy.glibc_at_least(introduced):
        return []
    return [
        _error(
            path,
            f"DT_RELR relocations without the {_RELR_MARKER} marker: glibc {policy.glibc} "
            f"ignores them (they are applied from glibc {introduced} on) and leaves those "
            "pointers unrelocated",
            "DT_RELR",
            "relink it without -z pack-relative-relocs (or --pack-dyn-relocs=relr)",
        )
    ]


def check_loadable(
    path: str, facts: ElfFacts, *, as_library: bool, runtime: Runtime, policy: AbiPolicy
) -> list[Finding]:
    """``as_library``: the object is dlopened (an extension module, a library some object of
    the layer needs, anything named like a shared object outside ``bin/``)."""
    if not as_library:
        return _relocations(path, facts, policy) if facts.interpreter else []
    return _relocations(path, facts, policy) + _as_library(path, facts, runtime, policy)
