"""Several (runtime, architecture) layers from one command.

Combinations are built in parallel as far as the machine allows (two at a time on two cores:
one's single-threaded resolution overlaps another's compiling and deflating), each exactly as
``layerforge build`` would build it alone; a wheel two combinations need comes from pip's and
uv's own caches the second time. One that cannot be built fails alone, with its reason, while
the others finish. (A shared wheelhouse, every combination downloading into it first, one at a
time, then resolving again offline, cost more than it saved once single builds got fast:
1.18x the four builds one at a time, against 0.86x now.)

A signal stops every combination at once: queued ones never start, running ones stop at their
next step or within their current one (their pip, uv and compileall groups are killed), each
removes its own scratch folder, and none is put in place after it (``interrupts``). What is
looked up once per process (``sysconfig``, uv, the interpreters, the modules a fresh build
loads) is looked up before the worker threads start: ``sysconfig``'s first initialisation is
not thread-safe on CPython 3.11, and uv's ``find_uv_bin`` read ``EXE`` as None when two
combinations initialised it at once.
"""

from __future__ import annotations

import sysconfig
import time
from dataclasses import dataclass, replace
from importlib import import_module
from typing import Any

from layerforge.builder.output.cache import BuildCache
from layerforge.builder.pipeline import build_layer
from layerforge.builder.request import BackendChoice as Backend
from layerforge.builder.request import LayerSpec
from layerforge.builder.result import BuildResult
from layerforge.errors import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    EXIT_OPERATION_FAILED,
    EXIT_USAGE,
    LayerforgeError,
)
from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.interpreters import find_interpreter, interpreters_with_pip, probe_interpreter
from layerforge.interrupts import WorkerPool, cancelled, expect_output
from layerforge.processes import usable_cores

__all__ = ["MatrixEntry", "MatrixOutcome", "build_matrix"]


@dataclass
class MatrixEntry:
    """One combination: what was built, or why it was not."""

    runtime: str
    architecture: str
    result: BuildResult | None = None
    error: LayerforgeError | None = None

    @property
    def target(self) -> str:
        return f"{self.runtime}/{self.architecture}"

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "runtime": self.runtime,
            "architecture": self.architecture,
            "status": "built" if self.result is not None else "failed",
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
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "layers": [e.to_dict() for e in self.entries],
        }


#: What a fresh build imports on first use: imported once, before the worker threads.
_FRESH_BUILD_MODULES = (
    "layerforge.archive",
    "layerforge.builder.backends.cross",
    "layerforge.builder.install.drift",
    "layerforge.builder.post.inventory",
    "layerforge.builder.post.records",
    "layerforge.verify",
)
_DOCKER_MODULES = ("docker", "layerforge.builder.backends.docker")


def _prefixed(sink: EventSink, target: str) -> EventSink:
    def emit(event: Event) -> None:
        if not cancelled():  # after a signal, the combinations' last words are not news
            sink(replace(event, step=f"{target} {event.step}"))

    return emit


def resolve_shared_lookups(specs: list[LayerSpec]) -> None:
    """Whatever a build looks up once per process and keeps, looked up here, on one thread,
    before the combinations' threads start (first initialisations race: ``sysconfig``'s is not
    thread-safe on CPython 3.11, and uv's ``find_uv_bin`` then read ``EXE`` as None)."""
    from layerforge.builder.install.choice import uv_binary

    sysconfig.get_config_vars()
    uv_binary()
    for version in sorted({spec.runtime.python for spec in specs}):
        find_interpreter(version)
        next(interpreters_with_pip(version), None)
    for path in sorted({spec.python for spec in specs if spec.python is not None}):
        probe_interpreter(path)
    docker = any(spec.backend is Backend.DOCKER for spec in specs)
    for module in (*_FRESH_BUILD_MODULES, *(_DOCKER_MODULES if docker else ())):
        import_module(module)


def _one(spec: LayerSpec, sink: EventSink, cache: BuildCache) -> MatrixEntry:
    entry = MatrixEntry(spec.runtime.name, spec.architecture.value)
    emit = _prefixed(sink, entry.target)
    try:
        entry.result = build_layer(spec, on_event=emit, cache=cache)
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
    started = time.monotonic()
    sink = emit_to(on_event)
    cache = cache if cache is not None else BuildCache()
    for spec in specs:
        expect_output(spec.output)
    resolve_shared_lookups(specs)
    count = workers or max(1, min(len(specs), usable_cores()))
    with WorkerPool(count, thread_name_prefix="layerforge-matrix") as pool:
        futures = [pool.submit(_one, spec, sink, cache) for spec in specs]
        entries = [future.result() for future in futures]
    return MatrixOutcome(entries, time.monotonic() - started)
