"""Post-processing of an installed tree: slimming and stripping. Each step reports bytes.

(Bytecode, which runs alongside, is ``layerforge.builder.post.bytecode``.)"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from layerforge.builder.result import StepReport
from layerforge.events import Event, EventKind, EventSink
from layerforge.filetree import iter_files, tree_bytes
from layerforge.processes import run, usable_cores
from layerforge.runtimes import Architecture

__all__ = ["PYCACHE", "PrunePolicy", "StripResult", "find_strip", "prune", "strip_binaries"]

_ELF_MAGIC = b"\x7fELF"
#: Where bytecode goes: every one is pruned first, so each one later is the build's own.
PYCACHE = "__pycache__"


@dataclass(frozen=True)
class PrunePolicy:
    """What no import needs (``data/prune-policy.json``, each entry with its reason)."""

    folders: frozenset[str]
    top_level_folders: frozenset[str]
    suffixes: tuple[str, ...]

    @classmethod
    @cache
    def default(cls) -> PrunePolicy:
        text = resources.files("layerforge.data").joinpath("prune-policy.json").read_text("utf-8")
        data = json.loads(text)
        return cls(
            folders=frozenset(data["folders"]),
            top_level_folders=frozenset(data["top_level_folders"]),
            suffixes=tuple(data["suffixes"]),
        )


def _prunable(root: Path, policy: PrunePolicy) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here.name.endswith(".dist-info"):
            dirs.clear()
            continue
        at_top = here == root
        for name in list(dirs):
            if name in policy.folders or (at_top and name in policy.top_level_folders):
                dirs.remove(name)
                yield here / name
        yield from (here / f for f in files if f.endswith(policy.suffixes))


def prune(root: Path, policy: PrunePolicy | None = None) -> StepReport:
    """Delete bytecode caches, test suites, sources/headers, Windows launchers and scripts."""
    policy = policy or PrunePolicy.default()
    saved = removed = 0
    for path in list(_prunable(root, policy)):
        if path.is_dir() and not path.is_symlink():
            removed += sum(1 for _ in iter_files(path))
            saved += tree_bytes(path)
            shutil.rmtree(path)
        else:
            removed += 1
            saved += path.stat().st_size if path.is_file() else 0
            path.unlink()
    detail = "__pycache__, tests/, sources and headers, .exe launchers, bin/"
    return StepReport("prune", saved, removed, detail)


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == _ELF_MAGIC


def find_strip(arch: Architecture) -> str | None:
    """A ``strip`` that understands ``arch``'s binaries, or None."""
    triplet = shutil.which(f"{arch.platform}-linux-gnu-strip")
    if triplet:
        return triplet
    if platform.machine() == arch.platform:
        return shutil.which("strip")
    return None


@dataclass(frozen=True)
class StripResult:
    report: StepReport
    rewritten: frozenset[Path]


def strip_binaries(root: Path, arch: Architecture, sink: EventSink) -> StripResult:
    """``strip --strip-unneeded`` every ELF file (found by magic bytes), several at a time."""
    tool = find_strip(arch)
    if tool is None:
        report = StepReport(
            "strip", 0, 0, f"skipped: no strip for {arch.platform} on this host", applied=False
        )
        return StripResult(report, frozenset())
    # bytecode may be compiling meanwhile: its __pycache__ folders hold no ELF file
    elf_files = [p for p in iter_files(root) if p.parent.name != PYCACHE and _is_elf(p)]
    before = sum(p.stat().st_size for p in elf_files)

    def strip(path: Path) -> bool:
        return _strip_one(tool, path)

    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
        results = zip(elf_files, pool.map(strip, elf_files), strict=True)
        for number, (path, ok) in enumerate(results, 1):
            sink(Event(EventKind.PROGRESS, "strip", path.name, number, len(elf_files)))
            if not ok:
                failed.append(path.relative_to(root).as_posix())
    after = sum(p.stat().st_size for p in elf_files)
    detail = f"{len(elf_files)} ELF files"
    if failed:
        detail += f"; left as they were (stripping would break them): {', '.join(failed)}"
    report = StepReport("strip", before - after, len(elf_files) - len(failed), detail)
    return StripResult(report, frozenset(elf_files))


def _strip_one(tool: str, path: Path) -> bool:
    """Strip into a copy and keep it only if the loader could still map it: stripping a library
    that patchelf rewrote (auditwheel's repairs) can leave load segments that are no longer
    page-aligned, and ld.so refuses those."""
    from layerforge.verify.elf import read_elf_facts  # 15 ms, for stripping (never a cache hit)

    stripped = path.with_name(f".{path.name}.stripped")
    try:
        if run([tool, "--strip-unneeded", "-o", str(stripped), str(path)], timeout=300).returncode:
            return False
        with stripped.open("rb") as handle:
            read_elf_facts(handle, stripped.stat().st_size)
        stripped.chmod(path.stat().st_mode)
        stripped.replace(path)
        return True
    except ValueError:
        return False
    finally:
        stripped.unlink(missing_ok=True)
