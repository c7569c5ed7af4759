"""``verify_layer``: every rule over one layer (zip, folder or wheels), read in place."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.runtimes import Architecture, Runtime
from layerforge.verify.elf import ELF_MAGIC, ElfFacts, read_elf_facts
from layerforge.verify.elf_rules import check_elf
from layerforge.verify.foreign import check_foreign
from layerforge.verify.layout import check_placement, check_unsafe_entries
from layerforge.verify.model import Finding, Report, Rule, Severity
from layerforge.verify.policy import policy_for
from layerforge.verify.pyabi import check_python_abi
from layerforge.verify.size import check_size, unzipped_bytes
from layerforge.verify.source import Entry, LayerSource, open_source
from layerforge.verify.tags import check_wheel_tags

__all__ = ["verify_layer"]

_HEAD = 8


def _facts(source: LayerSource, entry: Entry) -> ElfFacts | Finding:
    try:
        with source.open(entry) as stream:
            return read_elf_facts(stream)
    except ValueError as exc:
        return Finding(
            Rule.ELF_ARCH, Severity.WARNING, entry.path, str(exc),
            fix="check that the file is not truncated or corrupt",
        )  # fmt: skip


def _binary_findings(
    source: LayerSource,
    entries: Sequence[Entry],
    runtime: Runtime,
    arch: Architecture,
    sink: EventSink,
) -> tuple[list[Finding], int]:
    files = [e for e in entries if e.is_regular]
    layer_files = frozenset(e.path for e in entries if not e.is_dir)
    policy = policy_for(runtime, arch)
    findings: list[Finding] = []
    # Inflating ELF members is most of the work and zlib releases the GIL while it runs, so
    # each ELF file goes to the pool as soon as its magic bytes are seen.
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        pending: list[tuple[Entry, Future[ElfFacts | Finding]]] = []
        for entry in files:
            head = source.head(entry, _HEAD)
            if head[:4] == ELF_MAGIC:
                pending.append((entry, pool.submit(_facts, source, entry)))
            else:
                findings.extend(check_foreign(entry.path, head))
        for number, (entry, future) in enumerate(pending, start=1):
            facts = future.result()
            sink(Event(EventKind.PROGRESS, "verify", entry.path, number, len(pending)))
            if isinstance(facts, Finding):
                findings.append(facts)
                continue
            findings.extend(
                check_elf(entry.path, facts, runtime=runtime, arch=arch, policy=policy,
                          layer_files=layer_files)
            )  # fmt: skip
    return findings, len(pending)


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
        findings = check_unsafe_entries(entries)
        elf_count = 0
        if not findings:  # an unsafe archive is rejected before anything is read from it
            findings += check_placement(entries, runtime)
            findings += check_size(entries, source.zipped_bytes, function_size)
            findings += check_wheel_tags(source, entries, runtime, arch)
            findings += check_python_abi(entries, runtime, arch)
            binary, elf_count = _binary_findings(source, entries, runtime, arch, sink)
            findings += binary
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
