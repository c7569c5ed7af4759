"""``verify_layer``: every rule over one layer (zip, folder or wheels), read in place.

Binaries are read in two passes: first every ELF file's facts (in a thread pool: inflating is
most of the work and zlib releases the GIL), then the rules that need the whole layer: where the
loader finds each library (following the layer's own load graph and links), the versions the
libraries it finds define, and what ``dlopen`` maps (anything named like a shared object outside
``bin/``, directly or through a link, and every library an object needs).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.interrupts import WorkerPool
from layerforge.processes import usable_cores
from layerforge.runtimes import Architecture, Runtime
from layerforge.verify.dlopen import check_loadable
from layerforge.verify.elf import (
    ELF_MAGIC,
    MAX_ELF_BYTES,
    ElfFacts,
    read_elf_facts,
    read_imported_symbols,
    read_undefined_symbols,
)
from layerforge.verify.elf_rules import (
    check_architecture,
    check_blacklist,
    check_bundled_versions,
    check_libraries,
    check_symbols,
    check_weak_versions,
    unmet_weak_versions,
)
from layerforge.verify.findings import Finding, Report, Rule, Severity
from layerforge.verify.foreign import check_foreign
from layerforge.verify.layout import check_placement, check_unsafe_entries
from layerforge.verify.links import SHARED_OBJECT, LayerPaths, check_links
from layerforge.verify.loader import LayerLoader, Resolution
from layerforge.verify.policy import AbiPolicy, policy_for
from layerforge.verify.pyabi import check_python_abi
from layerforge.verify.size import check_size, unzipped_bytes
from layerforge.verify.source import Entry, LayerSource, MemberError, open_source
from layerforge.verify.tags import check_wheel_tags

__all__ = ["verify_layer"]

_HEAD = 8


def _integrity(path: str, message: str, fix: str = "rebuild the layer") -> Finding:
    return Finding(Rule.INTEGRITY, Severity.ERROR, path, message, fix=fix)


def _facts(source: LayerSource, entry: Entry) -> ElfFacts | Finding:
    if entry.size > MAX_ELF_BYTES:
        return Finding(
            Rule.INTEGRITY,
            Severity.WARNING,
            entry.path,
            f"not checked: {entry.size:,} bytes, more than any layer can hold (the size rule "
            "refuses it)",
            fix="drop it from the layer",
        )
    try:
        with source.open(entry) as stream:
            return read_elf_facts(stream, entry.size)
    except (ValueError, MemberError, OSError, EOFError) as exc:
        return _integrity(
            entry.path,
            f"not a complete, loadable ELF file: {exc}",
            "the file is truncated or corrupt: reinstall the package that owns it",
        )
    except Exception as exc:  # zlib and zipfile errors of a corrupt member, anything unexpected
        return _integrity(entry.path, f"unreadable: {type(exc).__name__}: {exc}")


@dataclass
class _Binaries:
    findings: list[Finding] = field(default_factory=list)
    elves: dict[str, ElfFacts] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    elf_count: int = 0


def _not_elf(entry: Entry, aliases: dict[str, str]) -> Finding | None:
    """A file the loader would open as a shared object (by its name, or through a link named
    like one) that is not ELF."""
    link = aliases.get(entry.path)
    if not SHARED_OBJECT.search(entry.path) and link is None:
        return None
    message = "named like a shared object but not an ELF file: the loader refuses it"
    if link is not None and not SHARED_OBJECT.search(entry.path):
        message = f"opened as a shared object through the link {link}, but not an ELF file"
    if entry.link_target is not None:  # a wheel's symlink member
        message += (
            f" (a symlink in the wheel: pip and uv install it as a file holding its target's "
            f"name, {entry.link_target[:80]!r})"
        )
    return _integrity(entry.path, message)


def _sniff(
    source: LayerSource,
    files: Sequence[Entry],
    layer_files: frozenset[str],
    aliases: dict[str, str],
    *,
    pool: WorkerPool,
    found: _Binaries,
) -> list[tuple[Entry, Future[ElfFacts | Finding]]]:
    """Magic bytes of every file: ELF files go to the pool, the others to the non-ELF rules."""
    pending = []
    for entry in files:
        try:
            head = source.head(entry, _HEAD)
        except MemberError as exc:
            found.findings.append(_integrity(entry.path, str(exc)))
            continue
        if head[:4] == ELF_MAGIC:
            pending.append((entry, pool.submit(_facts, source, entry)))
            continue
        foreign = check_foreign(entry.path, head, layer_files)
        found.findings += foreign
        if not foreign and (refused := _not_elf(entry, aliases)) is not None:
            found.findings.append(refused)
    return pending


def _blacklisted(
    source: LayerSource, entry: Entry, facts: ElfFacts, policy: AbiPolicy
) -> list[Finding]:
    if not set(facts.needed) & set(policy.blacklist):
        return []
    try:
        with source.open(entry) as stream:
            imported = read_imported_symbols(stream, entry.size)
    except (MemberError, OSError, ValueError):
        return []
    return check_blacklist(entry.path, facts.needed, imported, policy)


def _weak(
    source: LayerSource,
    entry: Entry,
    found: _Binaries,
    resolutions: dict[str, Resolution],
    policy: AbiPolicy,
) -> list[Finding]:
    facts = found.elves[entry.path]
    unmet = unmet_weak_versions(facts, policy, resolutions, found.elves)
    if not unmet:
        return []
    try:
        with source.open(entry) as stream:
            symbols = read_undefined_symbols(stream, entry.size)
    except (MemberError, OSError, ValueError):
        symbols = ()
    return check_weak_versions(entry.path, unmet, symbols)


def _shared_object_links(entries: Sequence[Entry], paths: LayerPaths) -> dict[str, str]:
    """The regular file each link named like a shared object leads to -> that link."""
    aliases: dict[str, str] = {}
    for entry in entries:
        if entry.is_link and SHARED_OBJECT.search(entry.path):
            target = paths.file(entry.path)
            if target is not None:
                aliases.setdefault(target, entry.path)
    return aliases


def _dlopened(
    entries: Sequence[Entry],
    aliases: dict[str, str],
    resolved: dict[str, dict[str, Resolution]],
) -> set[str]:
    """What the loader maps with dlopen: anything named like a shared object outside the
    layer's bin/ (or reached through a link so named), and every library an object needs."""
    named = {
        e.path
        for e in entries
        if e.is_regular and SHARED_OBJECT.search(e.path) and not e.path.startswith("bin/")
    }
    named |= {target for target, link in aliases.items() if not link.startswith("bin/")}
    needed = {
        str(r.found)
        for resolutions in resolved.values()
        for r in resolutions.values()
        if r.found not in (None, "system")
    }
    return named | needed


def _read_binaries(
    source: LayerSource,
    entries: Sequence[Entry],
    aliases: dict[str, str],
    context: tuple[Runtime, Architecture, AbiPolicy],
    sink: EventSink,
) -> _Binaries:
    """Pass one: every ELF file's facts, and the rules that need only the file itself."""
    runtime, arch, policy = context
    files = [e for e in entries if e.is_regular]
    layer_files = frozenset(e.path for e in entries if not e.is_dir)
    found = _Binaries()
    with WorkerPool(max(2, usable_cores())) as pool:  # an interrupt stops it at once
        pending = _sniff(source, files, layer_files, aliases, pool=pool, found=found)
        found.elf_count = len(pending)
        for number, (entry, future) in enumerate(pending, start=1):
            facts = future.result()
            sink(Event(EventKind.PROGRESS, "verify", entry.path, number, len(pending)))
            if isinstance(facts, Finding):
                found.findings.append(facts)
                continue
            wrong = check_architecture(entry.path, facts, runtime, arch, policy)
            found.findings += wrong
            if not wrong:
                found.elves[entry.path] = facts
                found.entries[entry.path] = entry
                found.findings += check_symbols(entry.path, facts, runtime, arch, policy)
    return found


def _binary_findings(
    source: LayerSource,
    entries: Sequence[Entry],
    runtime: Runtime,
    arch: Architecture,
    sink: EventSink,
) -> _Binaries:
    paths = LayerPaths(entries)
    policy = policy_for(runtime, arch)
    aliases = _shared_object_links(entries, paths)
    found = _read_binaries(source, entries, aliases, (runtime, arch, policy), sink)
    found.findings += check_links(entries, paths)
    loader = LayerLoader(
        found.elves,
        paths.file,
        policy.system_libraries,
        policy.layer_library_folders,
        arch.platform,
    )
    resolved = loader.resolve_all()
    libraries = _dlopened(entries, aliases, resolved)
    for path, resolutions in resolved.items():
        facts, entry = found.elves[path], found.entries[path]
        found.findings += check_libraries(path, resolutions.values(), runtime, policy)
        found.findings += _blacklisted(source, entry, facts, policy)
        found.findings += check_bundled_versions(path, facts, resolutions, found.elves)
        found.findings += _weak(source, entry, found, resolutions, policy)
        found.findings += check_loadable(
            path, facts, as_library=path in libraries, runtime=runtime, policy=policy
        )
    return found


def _entry_problems(entries: Sequence[Entry]) -> list[Finding]:
    return [
        _integrity(
            e.path,
            e.problem,
            "fix the permissions, or verify as a user who can read the whole layer",
        )
        for e in entries
        if e.problem
    ]


def verify_layer(
    targets: Sequence[Path],
    runtime: Runtime,
    arch: Architecture,
    *,
    function_size: int = 0,
    on_event: EventSink | None = None,
) -> Report:
    """Prove statically that the layer will load on ``runtime``/``arch``, file by file."""
    started = time.perf_counter()
    sink = emit_to(on_event)
    runtime.require_architecture(arch)
    with closing(open_source(targets)) as source:
        entries = source.entries()
        findings = check_unsafe_entries(entries) + _entry_problems(entries)
        elf_count = 0
        if not any(f.rule is Rule.LAYOUT for f in findings):  # unsafe: nothing is read from it
            findings += check_placement(entries, runtime)
            findings += check_size(entries, source.zipped_bytes, function_size)
            findings += check_wheel_tags(source, entries, runtime, arch)
            findings += check_python_abi(entries, runtime, arch)
            binaries = _binary_findings(source, entries, runtime, arch, sink)
            findings += binaries.findings
            elf_count = binaries.elf_count
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    findings.sort(key=lambda f: (order[f.severity], f.rule.value, f.file))
    return Report(
        target=source.name,
        runtime=runtime.name,
        architecture=arch.value,
        glibc=str(runtime.glibc),
        findings=findings,
        files=sum(1 for e in entries if e.is_regular),
        elf_files=elf_count,
        unzipped_bytes=unzipped_bytes(entries),
        zipped_bytes=source.zipped_bytes,
        seconds=time.perf_counter() - started,
    )
