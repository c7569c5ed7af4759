"""Several (runtime, architecture) layers from one command.

Downloads are shared: every combination's wheels are first fetched into one wheelhouse (pip
sees the files already there and does not fetch them again: a pure-Python wheel is downloaded
once for all combinations), then each combination installs offline from it. Combinations are
built in parallel as far as the machine allows; one that cannot be built fails alone, with its
reason, while the others finish.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from layerforge.builder.cache import BuildCache
from layerforge.builder.cross import pip_interpreter
from layerforge.builder.index import PackageIndex
from layerforge.builder.pip import (
    InstallFiles,
    PipTarget,
    download_arguments,
    explain_pip_failure,
    write_install_files,
)
from layerforge.builder.pipeline import build_layer
from layerforge.builder.result import BuildResult
from layerforge.errors import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    EXIT_OPERATION_FAILED,
    EXIT_USAGE,
    LayerforgeError,
)
from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.processes import run_streaming
from layerforge.scratch import scratch_dir
from layerforge.spec import LayerSpec

__all__ = ["MatrixEntry", "MatrixOutcome", "build_matrix"]

_SAVED = re.compile(r"^\s*Saved\s+(\S+)")
_ALREADY = re.compile(r"File was already downloaded\s+(\S+)")


@dataclass
class MatrixEntry:
    """One combination: what was built, or why it was not."""

    runtime: str
    architecture: str
    result: BuildResult | None = None
    error: LayerforgeError | None = None
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"{self.runtime}/{self.architecture}"

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "runtime": self.runtime,
            "architecture": self.architecture,
            "status": "built" if self.result is not None else "failed",
            "wheels_downloaded": sorted(self.downloaded),
            "wheels_reused": sorted(self.reused),
        }
        if self.result is not None:
            document.update(
                output=self.result.output,
                sha256=self.result.sha256,
                unzipped_bytes=self.result.unzipped_bytes,
                zipped_bytes=self.result.zipped_bytes,
                cached=self.result.cached,
                seconds=self.result.duration_seconds,
            )
        if self.error is not None:
            document["error"] = self.error.to_dict()
        return document


@dataclass
class MatrixOutcome:
    entries: list[MatrixEntry]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(e.result is not None for e in self.entries)

    @property
    def exit_code(self) -> int:
        codes = {e.error.exit_code for e in self.entries if e.error is not None}
        for code in (EXIT_OPERATION_FAILED, EXIT_USAGE, EXIT_CHECK_FAILED):
            if code in codes:
                return code
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        downloaded = {w for e in self.entries for w in e.downloaded}
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "wheels": {
                "downloaded": len(downloaded),
                "reused_across_combinations": sum(len(e.reused) for e in self.entries),
            },
            "layers": [e.to_dict() for e in self.entries],
        }


def _prefixed(sink: EventSink, target: str) -> EventSink:
    def emit(event: Event) -> None:
        sink(replace(event, step=f"{target} {event.step}"))

    return emit


def _download(spec: LayerSpec, wheelhouse: Path, sink: EventSink) -> tuple[list[str], list[str]]:
    """Fetch the combination's wheels into the shared wheelhouse; (downloaded, reused)."""
    target = PipTarget(spec.runtime, spec.architecture)
    with scratch_dir("layerforge-download-") as scratch:
        requirements, constraints = write_install_files(scratch, spec.inputs)
        files = InstallFiles(str(requirements), str(constraints) if constraints else None, "")
        python = pip_interpreter(spec)
        args = download_arguments(
            target=target, dest=str(wheelhouse), files=files, inputs=spec.inputs
        )
        saved: list[str] = []
        already: list[str] = []

        def watch(line: str) -> None:
            for pattern, found in ((_SAVED, saved), (_ALREADY, already)):
                match = pattern.search(line)
                if match:
                    found.append(Path(match.group(1)).name)
            sink(Event(EventKind.PROGRESS, "download", line))

        environment = {**os.environ, "TMPDIR": str(scratch)}
        done = run_streaming([python.path, "-m", "pip", *args], on_line=watch, env=environment)
    if done.returncode != 0:
        index = PackageIndex(spec.inputs.index_url)
        raise explain_pip_failure(done.output, target, index, spec.inputs)
    return saved, already


def _offline(spec: LayerSpec, wheelhouse: Path) -> LayerSpec:
    """The spec installing only from the wheelhouse (hashes are still checked)."""
    inputs = replace(
        spec.inputs,
        index_url=None,
        extra_index_urls=(),
        no_index=True,
        find_links=(str(wheelhouse), *spec.inputs.find_links),
    )
    return replace(spec, inputs=inputs)


def _one(
    spec: LayerSpec,
    wheelhouse: Path,
    sink: EventSink,
    cache: BuildCache,
    downloads: threading.Lock,
) -> MatrixEntry:
    entry = MatrixEntry(spec.runtime.name, spec.architecture.value)
    emit = _prefixed(sink, entry.target)

    def fetch(original: LayerSpec) -> LayerSpec:
        with downloads:  # one download at a time: a wheel two combinations need is fetched once
            emit(Event(EventKind.STARTED, "download"))
            entry.downloaded, entry.reused = _download(original, wheelhouse, emit)
            emit(
                Event(
                    EventKind.FINISHED,
                    "download",
                    f"{len(entry.downloaded)} downloaded, {len(entry.reused)} shared",
                )
            )
        return _offline(original, wheelhouse)

    try:
        entry.result = build_layer(spec, on_event=emit, cache=cache, before_install=fetch)
    except LayerforgeError as error:
        entry.error = error
        emit(Event(EventKind.NOTE, "failed", f"{entry.target}: {error.message}"))
    return entry


def build_matrix(
    specs: list[LayerSpec],
    *,
    on_event: EventSink | None = None,
    cache: BuildCache | None = None,
    workers: int | None = None,
) -> MatrixOutcome:
    """Build every combination; each result (or error) is reported separately."""
    import time

    started = time.monotonic()
    sink = emit_to(on_event)
    cache = cache if cache is not None else BuildCache()
    downloads = threading.Lock()
    count = workers or max(1, min(len(specs), os.cpu_count() or 1))
    with scratch_dir("layerforge-wheelhouse-") as wheelhouse:
        task: Callable[[LayerSpec], MatrixEntry] = lambda spec: _one(  # noqa: E731
            spec, wheelhouse, sink, cache, downloads
        )
        with ThreadPoolExecutor(max_workers=count) as pool:
            entries = list(pool.map(task, specs))
    return MatrixOutcome(entries, time.monotonic() - started)
