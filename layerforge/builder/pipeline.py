"""``build_layer``: check, install, post-process, zip, verify, and only then put the layer in place.

Everything that can be checked before work starts is checked first (the output location, the
bytecode interpreter, the backend). Work happens in a scratch folder that is removed on every exit
path. The zip and its manifest replace the previous pair together, or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from packaging.utils import canonicalize_name

from layerforge import __version__
from layerforge.archive import write_layer_zip
from layerforge.builder.backends import BackendSession, BuildBackend
from layerforge.builder.backends.select import select_backend
from layerforge.builder.output.cache import BuildCache, CacheHit
from layerforge.builder.output.placement import (
    StagedLayer,
    check_output,
    discard_rejected,
    manifest_path_for,
    place_layer,
    staged_layer,
)
from layerforge.builder.post import fontcache, prune
from layerforge.builder.post.bytecode import BytecodeJob
from layerforge.builder.request import LayerSpec
from layerforge.builder.result import BuildResult, ResolvedDistribution, StepReport
from layerforge.errors import CheckFailedError
from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.interrupts import WorkerPool, check_cancelled, expect_output
from layerforge.runtimes import LIMITS, compatible_platform_tags
from layerforge.scratch import build_scratch_parent, remove_beside, scratch_dir
from layerforge.verify import Report, Severity

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = ["build_layer", "manifest_path_for"]

T = TypeVar("T")


@dataclass
class _Clock:
    """Wall time per step, in the order the steps ran."""

    sink: EventSink
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str, message: str = "") -> Iterator[None]:
        check_cancelled()  # every step boundary, in whichever thread builds (a matrix's)
        self.sink(Event(EventKind.STARTED, name, message))
        started = time.monotonic()
        yield
        self.timings[name] = round(self.timings.get(name, 0.0) + time.monotonic() - started, 3)
        check_cancelled()

    def finish(self, name: str, message: str = "") -> None:
        self.sink(Event(EventKind.FINISHED, name, message))

    def begin(self, name: str, message: str) -> float:
        """A step that runs alongside the next ones: its start (``end`` records its time)."""
        check_cancelled()
        self.sink(Event(EventKind.STARTED, name, message))
        return time.monotonic()

    def end(self, name: str, started: float, message: str) -> None:
        self.timings[name] = round(time.monotonic() - started, 3)
        self.finish(name, message)

    def run(self, name: str, action: Callable[[], T], describe: Callable[[T], str]) -> T:
        with self.step(name):
            value = action()
        self.finish(name, describe(value))
        return value


# -- the cache key ----------------------------------------------------------------------------


#: layerforge's code and data that decide what a build makes (folders with their sub-folders)
_FINGERPRINTED = (
    "builder",
    "data",
    "verify",
    "inputs",
    "archive.py",
    "filetree.py",
    "_scripts/bytecode_worker.py",
    "_scripts/fontcache_worker.py",
)


def _fingerprinted(item: Traversable, name: str) -> Iterator[tuple[str, Traversable]]:
    if item.is_dir():
        for child in sorted(item.iterdir(), key=lambda p: p.name):
            yield from _fingerprinted(child, f"{name}/{child.name}")
    elif item.name.endswith((".py", ".json")):
        yield name, item


@cache
def _code_fingerprint() -> str:
    """layerforge's own code and data: a changed rule or step is a changed build."""
    digest = hashlib.sha256(__version__.encode())
    root = resources.files("layerforge")
    for part in _FINGERPRINTED:
        for name, item in _fingerprinted(root.joinpath(part), part):
            digest.update(name.encode() + item.read_bytes())
    return digest.hexdigest()


def _strip_identity(spec: LayerSpec) -> object:
    if not spec.strip_binaries:
        return False
    tool = prune.find_strip(spec.architecture)
    if tool is None:
        return None
    stat = Path(tool).resolve().stat()
    return [tool, stat.st_size, stat.st_mtime_ns]


def _cache_inputs(spec: LayerSpec, backend: BuildBackend) -> dict[str, Any]:
    bytecode = backend.bytecode
    return {
        "layerforge": [__version__, _code_fingerprint()],
        "inputs": spec.inputs.cache_inputs(),
        "runtime": spec.runtime.name,
        "architecture": spec.architecture.value,
        "platform_tags": compatible_platform_tags(spec.runtime, spec.architecture),
        "backend": backend.name,
        "strip": _strip_identity(spec),
        "bytecode": spec.compile_bytecode,
        "bytecode_interpreter": (
            bytecode.full_version if bytecode and backend.name == "cross" else None
        ),
        **backend.cache_inputs(spec),
    }


# -- the steps --------------------------------------------------------------------------------


def _postprocess(
    spec: LayerSpec,
    tree: Path,
    session: BackendSession,
    clock: _Clock,
    checkpoint: Callable[[list[StepReport]], None],
) -> list[StepReport]:
    """prune, then strip and RECORD with bytecode alongside; ``checkpoint`` sees the steps
    once the tree's sizes are final but for bytecode (it may stop the build there)."""
    from layerforge.builder.post.records import normalise_records  # cold half: 7 ms

    def detail(report: StepReport) -> str:
        return report.detail

    def timed(report: StepReport, name: str) -> StepReport:
        return report.timed(clock.timings.get(name, 0.0))

    steps = [timed(clock.run("prune", lambda: prune.prune(tree), detail), "prune")]
    bytecode: tuple[BytecodeJob, float] | None = None
    if spec.compile_bytecode:
        started = clock.begin("bytecode", "alongside stripping and RECORD files")
        bytecode = session.start_bytecode(tree), started
    try:
        rewritten: frozenset[Path] = frozenset()
        if spec.strip_binaries:
            stripped = clock.run(
                "strip",
                lambda: prune.strip_binaries(tree, spec.architecture, clock.sink),
                lambda result: result.report.detail,
            )
            steps.append(timed(stripped.report, "strip"))
            rewritten = stripped.rewritten
        recorded = clock.run("record", lambda: normalise_records(tree, rewritten), detail)
        steps.append(timed(recorded, "record"))
        checkpoint(steps)
        if bytecode is not None:
            job, started = bytecode
            compiled = job.wait()
            clock.end("bytecode", started, compiled.detail)
            steps.append(timed(compiled, "bytecode"))
    except BaseException:
        if bytecode is not None:
            bytecode[0].stop()  # a failed or interrupted step stops the compiler at once
        raise
    if fontcache.holds_matplotlib(tree):  # its own bytecode is there now: a faster import
        fonts = clock.run("fontcache", lambda: session.write_font_list(tree), detail)
        steps.append(timed(fonts, "fontcache"))
    return steps


def _with_sizes(
    installed: list[ResolvedDistribution], sizes: dict[str, int]
) -> list[ResolvedDistribution]:
    return [d.with_size(sizes.get(canonicalize_name(d.name), 0)) for d in installed]


def _verify(spec: LayerSpec, layer: Path, sink: EventSink) -> Report:
    """The verify-abi rules on what was built; errors fail the build before it is placed."""
    from layerforge.verify import verify_layer  # the rules: 60 ms a cache hit never pays

    report = verify_layer([layer], spec.runtime, spec.architecture, on_event=sink)
    if not report.passed:
        errors = [f for f in report.findings if f.severity is Severity.ERROR]
        lines = [f"{f.rule.value}: {f.file}: {f.message} {f.required}" for f in errors[:50]]
        if len(errors) > len(lines):
            lines.append(f"... and {len(errors) - len(lines)} more")
        raise CheckFailedError(
            f"the built layer would not load on {spec.target}: {len(errors)} verification errors",
            hint="nothing was written and the last good layer was kept: change the "
            "requirements that bring the files named above",
            details="\n".join(lines),
        )
    return report


def _verification(report: Report) -> dict[str, Any]:
    return {
        "passed": report.passed,
        "errors": report.count(Severity.ERROR),
        "warnings": report.count(Severity.WARNING),
        "summary": report.summary,
    }


def _compiles(spec: LayerSpec, backend: BuildBackend) -> bool:
    """Whether the build will ship bytecode: asked for, and an interpreter of the target's
    version to compile it (a docker build has the image's)."""
    if not spec.compile_bytecode:
        return False
    return backend.name != "cross" or backend.bytecode is not None


@dataclass
class _Fresh:
    layer: Path
    result: BuildResult


def _build_fresh(
    spec: LayerSpec, backend: BuildBackend, work: Path, clock: _Clock, staged: StagedLayer
) -> _Fresh:
    # the cold half of the pipeline (drift 2 ms, inventory 2 ms): a cache hit never loads it
    from layerforge.builder.install.drift import DriftCheck
    from layerforge.builder.post.budget import check_tree
    from layerforge.builder.post.inventory import tree_inventory

    tree = work / "python"
    tree.mkdir()
    warnings: list[str] = []
    clock.begin("drift", "alongside the build")
    drift_check = DriftCheck(
        spec.inputs.named_projects(),
        index_url=spec.inputs.index_url,
        runtime=spec.runtime.name,
        architecture=spec.architecture.value,
    )
    with drift_check.stopped_on_failure():
        with backend.session(spec, work, clock.sink) as session:
            installed = clock.run(
                "resolve",
                lambda: session.install(tree),
                lambda found: f"{len(found)} distributions",
            )
            drift_check.ask(d.name for d in installed)
            compiles = _compiles(spec, backend)

            def checkpoint(done: list[StepReport]) -> None:
                early = tree_inventory(tree, without_bytecode=True)
                check_tree(spec, early, installed, done, compiles=compiles, final=False)

            steps = _postprocess(spec, tree, session, clock, checkpoint)
        inventory = tree_inventory(tree)
        check_tree(spec, inventory, installed, steps, compiles=compiles, final=True)
        packages = _with_sizes(installed, inventory.sizes)
        archive = clock.run(
            "zip",
            lambda: write_layer_zip(tree, work / "layer.zip", sink=clock.sink),
            lambda made: made.sha256,
        )
    drift, clock.timings["drift"], unchecked = drift_check.result(installed)
    warnings += [unchecked] if unchecked else []
    clock.finish("drift", f"{len(drift)} held back by the platform")
    # the zip is copied (and hashed) beside the output while verification reads it: verify
    # leaves a core idle; the copy is swapped in only after everything passed. The tree and
    # the downloads are done with: they go meanwhile, not at the end
    with WorkerPool(2, thread_name_prefix="layerforge-stage") as helpers:
        staging = helpers.submit(staged.fill, archive.path, archive.sha256)
        helpers.submit(remove_beside, archive.path)
        report = clock.run(
            "verify", lambda: _verify(spec, archive.path, clock.sink), lambda made: made.summary
        )
        clock.timings["stage"] = staging.result()
    result = BuildResult(
        output=str(spec.output),
        manifest=str(manifest_path_for(spec.output)),
        sha256=archive.sha256,
        unzipped_bytes=archive.unzipped_bytes,
        zipped_bytes=archive.zipped_bytes,
        file_count=archive.file_count,
        runtime=spec.runtime.name,
        glibc=str(spec.runtime.glibc),
        architecture=spec.architecture.value,
        backend=backend.name,
        installer=backend.installer,
        layerforge_version=__version__,
        requirements=list(spec.requirements),
        packages=packages,
        steps=steps,
        drift=drift,
        unzipped_budget=LIMITS.unzipped_bytes,
        direct_upload_limit=LIMITS.direct_upload_zip_bytes,
        warnings=warnings + [s.detail for s in steps if not s.applied],
        notes=list(spec.inputs.notes),
        verification=_verification(report),
    )
    return _Fresh(archive.path, result)


def _manifest_text(result: BuildResult) -> str:
    return json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"


def _deliver(
    spec: LayerSpec, hit: CacheHit, clock: _Clock, cache: BuildCache
) -> BuildResult | None:
    """Place a cached build; None (and the entry dropped) if its bytes are not the recorded."""
    clock.sink(Event(EventKind.NOTE, "cache", f"inputs unchanged: reusing build {hit.key[:12]}"))
    if spec.max_unzipped is not None:  # a cached build is within Lambda's budget: a lower one
        from layerforge.builder.post.budget import check_cached

        check_cached(spec, hit.result)
    result = hit.result.relocated(
        str(spec.output), str(manifest_path_for(spec.output)), cached=True
    )
    try:
        with clock.step("place"):
            place_layer(
                hit.reader,
                hit.result.sha256,
                _manifest_text(result),
                spec.output,
                trusted=hit.trusted,
            )
    except CheckFailedError as damaged:
        cache.discard(hit.key, damaged.message, entry=hit.entry)
        return None
    clock.finish("place", str(spec.output))
    return result


def build_layer(
    spec: LayerSpec,
    *,
    on_event: EventSink | None = None,
    cache: BuildCache | None = None,
) -> BuildResult:
    """Build the layer ``spec`` describes; the output is replaced only if everything succeeds."""
    started = time.monotonic()
    clock = _Clock(emit_to(on_event))
    cache = cache if cache is not None else BuildCache()
    check_output(spec.output)
    expect_output(spec.output)  # an interrupt says what became of it
    backend = select_backend(spec, clock.sink)
    key = BuildCache.key(_cache_inputs(spec, backend))
    hit = cache.lookup(key) if spec.use_cache else None
    with hit or contextlib.nullcontext():  # the hit's zip stays open until it is placed
        delivered = _deliver(spec, hit, clock, cache) if hit is not None else None
    if delivered is not None:
        discard_rejected(spec.output)
        return delivered.finished(time.monotonic() - started, clock.timings, cache.warnings)
    parent, where = build_scratch_parent()
    clock.sink(Event(EventKind.NOTE, "scratch", f"working in {where}"))
    with (
        scratch_dir("layerforge-build-", parent=parent) as work,
        staged_layer(spec.output) as staged,
    ):
        fresh = _build_fresh(spec, backend, work, clock, staged)
        with clock.step("cache"):
            cache.store(key, fresh.layer, fresh.result)
        clock.finish("cache")
        result = fresh.result.finished(time.monotonic() - started, clock.timings, cache.warnings)
        with clock.step("place"):
            staged.commit(_manifest_text(result))
        clock.finish("place", str(spec.output))
    discard_rejected(spec.output)
    return result.finished(time.monotonic() - started, clock.timings, [])
