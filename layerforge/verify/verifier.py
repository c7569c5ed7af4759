"""``verify_layer``: every rule over one layer (zip, folder or wheels), read in place.

Binaries are read in two passes: first every ELF file's facts (in a thread pool: inflating is
most of the work and zlib releases the GIL), then the rules that need the whole layer (where the
loader finds each library, following the layer's own load graph).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.processes import usable_cores
from layerforge.runtimes import Architecture, Runtime
from layerforge.verify.elf import ELF_MAGIC, ElfFacts, read_elf_facts, read_imported_symbols
from layerforge.verify.elf_rules import (
    check_architecture,
    check_blacklist,
    check_libraries,
    check_symbols,
)
from layerforge.verify.findings import Finding, Report, Rule, Severity
from layerforge.verify.foreign import check_foreign
from layerforge.verify.layout import check_placement, check_unsafe_entries
from layerforge.verify.loader import LayerLoader
from layerforge.verify.policy import AbiPolicy, policy_for
from layerforge.verify.pyabi import check_python_abi
from layerforge.verify.size import check_size, unzipped_bytes
from layerforge.verify.source import Entry, LayerSource, MemberError, open_source
from layerforge.verify.tags import check_wheel_tags

__all__ = ["verify_layer"]

_HEAD = 8
_SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")


def _integrity(path: str, message: str, fix: str = "rebuild the layer") -> Finding:
    return Finding(Rule.INTEGRITY, Severity.ERROR, path, message, fix=fix)


def _facts(source: LayerSource, entry: Entry) -> ElfFacts | Finding:
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
    elf_count: int = 0


def _sniff(
    source: LayerSource,
    files: Sequence[Entry],
    layer_files: frozenset[str],
    pool: ThreadPoolExecutor,
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
        if not foreign and _SHARED_OBJECT.search(entry.path):
            found.findings.append(
                _integrity(
                    entry.path,
                    "named like a shared object but not an ELF file: the loader refuses it",
                )
            )
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


def _binary_findings(
    source: LayerSource,
    entries: Sequence[Entry],
    runtime: Runtime,
    arch: Architecture,
    sink: EventSink,
) -> _Binaries:
    files = [e for e in entries if e.is_regular]
    layer_files = frozenset(e.path for e in entries if not e.is_dir)
    policy = policy_for(runtime, arch)
    found = _Binaries()
    with ThreadPoolExecutor(max_workers=max(2, usable_cores())) as pool:
        pending = _sniff(source, files, layer_files, pool, found)
        found.elf_count = len(pending)
        by_path = {}
        for number, (entry, future) in enumerate(pending, start=1):
            facts = future.result()
            sink(Event(EventKind.PROGRESS, "verify", entry.path, number, len(pending)))
            if isinstance(facts, Finding):
                found.findings.append(facts)
                continue
            wrong = check_architecture(entry.path, facts, runtime, arch)
            found.findings += wrong
            if not wrong:
                found.elves[entry.path] = facts
                by_path[entry.path] = entry
                found.findings += check_symbols(entry.path, facts, runtime, arch, policy)
    loader = LayerLoader(
        found.elves,
        layer_files,
        policy.system_libraries,
        policy.layer_library_folders,
        arch.platform,
    )
    for path, resolutions in loader.resolve_all().items():
        found.findings += check_libraries(path, resolutions.values(), runtime, policy)
        found.findings += _blacklisted(source, by_path[path], found.elves[path], policy)
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
