"""``build_layer``: install, post-process, zip, check, and only then put the layer in place."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from packaging.utils import canonicalize_name

from layerforge import __version__, containers
from layerforge.builder import postprocess
from layerforge.builder.archive import ArchiveInfo, place_atomically, write_layer_zip
from layerforge.builder.cache import BuildCache
from layerforge.builder.cross import CrossInstaller
from layerforge.builder.docker import DockerInstaller, platform_of
from layerforge.builder.index import PackageIndex
from layerforge.builder.inventory import distribution_sizes
from layerforge.builder.result import BuildResult, DriftEntry, ResolvedDistribution, StepReport
from layerforge.errors import BudgetExceededError, BuildError, CheckFailedError
from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.runtimes import LIMITS, supported_tags
from layerforge.spec import Backend, LayerSpec
from layerforge.verify import Report, Severity, verify_layer

__all__ = ["Installer", "build_layer", "manifest_path_for"]


class InstallSession(Protocol):
    """A backend at work: installs into the tree and compiles its bytecode."""

    def install(self, tree: Path) -> list[ResolvedDistribution]: ...

    def compile_bytecode(self, tree: Path) -> StepReport: ...


class Installer(Protocol):
    """A backend: opens a session (a container, a scratch folder) for one build."""

    name: str

    def cache_inputs(self, spec: LayerSpec) -> dict[str, object]: ...

    def session(
        self, spec: LayerSpec, work: Path, sink: EventSink
    ) -> AbstractContextManager[InstallSession]: ...


def manifest_path_for(output: Path) -> Path:
    """``dist/layer.zip`` -> ``dist/layer.manifest.json``."""
    return output.with_name(f"{output.stem}.manifest.json")


def _docker_installer(spec: LayerSpec, sink: EventSink) -> DockerInstaller:
    image = spec.image or spec.runtime.image
    client = containers.connect()
    containers.ensure_image(client, image, platform=platform_of(spec.architecture), sink=sink)
    return DockerInstaller(client, image, network=spec.network)


def select_installer(spec: LayerSpec, sink: EventSink) -> Installer:
    """cross or docker as asked; auto takes docker when a daemon answers and has the image."""
    if spec.backend is Backend.CROSS:
        return CrossInstaller()
    if spec.backend is Backend.DOCKER:
        return _docker_installer(spec, sink)
    try:
        installer = _docker_installer(spec, sink)
    except containers.ContainerError as unavailable:
        note = f"backend auto: using cross (docker unavailable: {unavailable.message})"
        sink(Event(EventKind.NOTE, "backend", note))
        return CrossInstaller()
    sink(Event(EventKind.NOTE, "backend", f"backend auto: using docker ({installer.image})"))
    return installer


def _cache_inputs(spec: LayerSpec, installer: Installer) -> dict[str, Any]:
    return {
        "layerforge": __version__,
        "requirements": list(spec.requirements),
        "runtime": spec.runtime.name,
        "architecture": spec.architecture.value,
        "backend": installer.name,
        "strip": spec.strip_binaries and postprocess.find_strip(spec.architecture) is not None,
        "bytecode": spec.compile_bytecode,
        "index_url": spec.index_url,
        "extra_index_urls": list(spec.extra_index_urls),
        **installer.cache_inputs(spec),
    }


def _timed(step: str, sink: EventSink, action: Callable[[], StepReport]) -> StepReport:
    sink(Event(EventKind.STARTED, step))
    report = action()
    sink(Event(EventKind.FINISHED, step, report.detail))
    return report


def _postprocess(
    spec: LayerSpec, tree: Path, session: InstallSession, sink: EventSink
) -> list[StepReport]:
    steps = [_timed("prune", sink, lambda: postprocess.prune(tree))]
    if spec.strip_binaries:
        steps.append(
            _timed("strip", sink, lambda: postprocess.strip_binaries(tree, spec.architecture, sink))
        )
    if spec.compile_bytecode:
        steps.append(_timed("bytecode", sink, lambda: session.compile_bytecode(tree)))
    return steps


def _drift(
    spec: LayerSpec, installed: list[ResolvedDistribution], warnings: list[str]
) -> list[DriftEntry]:
    index = PackageIndex(spec.index_url)
    accepted = supported_tags(spec.runtime, spec.architecture)
    try:
        summaries = index.summarise_many(
            [d.name for d in installed], accepted, spec.runtime.python_version
        )
    except BuildError as exc:
        warnings.append(f"drift not checked: {exc.message}")
        return []
    drift = []
    for dist in installed:
        summary = summaries[dist.name]
        if summary.latest is not None and summary.latest != summary.latest_compatible:
            latest_compatible = summary.latest_compatible
            drift.append(
                DriftEntry(
                    name=dist.name,
                    installed=dist.version,
                    latest=str(summary.latest),
                    latest_compatible=str(latest_compatible) if latest_compatible else None,
                )
            )
    return drift


def _with_sizes(
    installed: list[ResolvedDistribution], sizes: dict[str, int]
) -> list[ResolvedDistribution]:
    return [
        ResolvedDistribution(
            name=d.name,
            version=d.version,
            wheel=d.wheel,
            sha256=d.sha256,
            requested=d.requested,
            unzipped_bytes=sizes.get(canonicalize_name(d.name), 0),
        )
        for d in installed
    ]


def _check_budget(spec: LayerSpec, unzipped: int) -> None:
    if spec.max_unzipped is not None and unzipped > spec.max_unzipped:
        raise BudgetExceededError(
            f"the layer takes {unzipped:,} bytes unzipped, over --max-unzipped "
            f"{spec.max_unzipped:,}",
            hint="drop requirements, or raise --max-unzipped; the last good layer was kept",
        )


def _verify(spec: LayerSpec, layer: Path, sink: EventSink) -> Report:
    """The verify-abi rules on what was built; errors fail the build before it is placed."""
    sink(Event(EventKind.STARTED, "verify"))
    report = verify_layer([layer], spec.runtime, spec.architecture, on_event=sink)
    sink(Event(EventKind.FINISHED, "verify", report.summary))
    if not report.passed:
        errors = [f for f in report.findings if f.severity is Severity.ERROR]
        lines = [f"{f.rule.value}: {f.file}: {f.message} {f.required}" for f in errors[:10]]
        raise CheckFailedError(
            f"the built layer would not load on {spec.runtime.name}/{spec.architecture.value}: "
            f"{len(errors)} verification errors",
            hint="the last good layer was kept; see layerforge verify-abi for every finding",
            details="\n".join(lines),
        )
    return report


def _result(
    *,
    spec: LayerSpec,
    installer: Installer,
    archive: ArchiveInfo,
    packages: list[ResolvedDistribution],
    steps: list[StepReport],
    drift: list[DriftEntry],
    warnings: list[str],
    report: Report,
) -> BuildResult:
    return BuildResult(
        output=str(spec.output),
        manifest=str(manifest_path_for(spec.output)),
        sha256=archive.sha256,
        unzipped_bytes=archive.unzipped_bytes,
        zipped_bytes=archive.zipped_bytes,
        file_count=archive.file_count,
        runtime=spec.runtime.name,
        glibc=str(spec.runtime.glibc),
        architecture=spec.architecture.value,
        backend=installer.name,
        layerforge_version=__version__,
        requirements=list(spec.requirements),
        packages=packages,
        steps=steps,
        drift=drift,
        unzipped_budget=LIMITS.unzipped_bytes,
        direct_upload_limit=LIMITS.direct_upload_zip_bytes,
        warnings=warnings + [s.detail for s in steps if not s.applied],
        verification={
            "passed": report.passed,
            "errors": report.count(Severity.ERROR),
            "warnings": report.count(Severity.WARNING),
            "summary": report.summary,
        },
    )


def _place(layer: Path, result: BuildResult, spec: LayerSpec) -> None:
    """Put the zip, then its manifest, in place; each replaces its predecessor atomically."""
    place_atomically(layer, spec.output)
    with tempfile.TemporaryDirectory(prefix="layerforge-manifest-") as scratch:
        manifest = Path(scratch) / "manifest.json"
        manifest.write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
        place_atomically(manifest, manifest_path_for(spec.output))


def _build_fresh(
    spec: LayerSpec, installer: Installer, work: Path, sink: EventSink
) -> tuple[Path, BuildResult]:
    tree = work / "python"
    tree.mkdir()
    with installer.session(spec, work, sink) as session:
        sink(Event(EventKind.STARTED, "resolve", f"{len(spec.requirements)} requirements"))
        installed = session.install(tree)
        sink(Event(EventKind.FINISHED, "resolve", f"{len(installed)} distributions"))
        steps = _postprocess(spec, tree, session, sink)
    warnings: list[str] = []
    sink(Event(EventKind.STARTED, "drift"))
    drift = _drift(spec, installed, warnings)
    sink(Event(EventKind.FINISHED, "drift", f"{len(drift)} held back by the platform"))
    packages = _with_sizes(installed, distribution_sizes(tree))
    sink(Event(EventKind.STARTED, "zip"))
    archive = write_layer_zip(tree, work / "layer.zip", sink=sink)
    sink(Event(EventKind.FINISHED, "zip", archive.sha256))
    report = _verify(spec, archive.path, sink)
    result = _result(
        spec=spec,
        installer=installer,
        archive=archive,
        packages=packages,
        steps=steps,
        drift=drift,
        warnings=warnings,
        report=report,
    )
    return archive.path, result


def build_layer(
    spec: LayerSpec, *, on_event: EventSink | None = None, cache: BuildCache | None = None
) -> BuildResult:
    """Build the layer ``spec`` describes; the output is replaced only if everything succeeds."""
    started = time.monotonic()
    sink = emit_to(on_event)
    cache = cache if cache is not None else BuildCache()
    installer = select_installer(spec, sink)
    key = BuildCache.key(_cache_inputs(spec, installer))
    hit = cache.lookup(key) if spec.use_cache else None
    if hit is not None:
        layer, cached = hit
        sink(Event(EventKind.NOTE, "cache", f"inputs unchanged: reusing build {key[:12]}"))
        _check_budget(spec, cached.unzipped_bytes)
        result = cached.relocated(
            str(spec.output),
            str(manifest_path_for(spec.output)),
            cached=True,
            seconds=time.monotonic() - started,
        )
        _place(layer, result, spec)
        return result
    with tempfile.TemporaryDirectory(prefix="layerforge-build-") as scratch:
        layer, result = _build_fresh(spec, installer, Path(scratch), sink)
        _check_budget(spec, result.unzipped_bytes)
        result = result.relocated(
            result.output, result.manifest, cached=False, seconds=time.monotonic() - started
        )
        cache.store(key, layer, result)
        _place(layer, result, spec)
    return result
