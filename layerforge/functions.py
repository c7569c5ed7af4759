"""The bundled ``analytics_payload`` function as Lambda receives it: its files, staged or zipped."""

from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from pathlib import Path

from layerforge.builder.archive import ArchiveInfo, write_layer_zip
from layerforge.events import EventSink, emit_to

__all__ = ["HANDLER", "PACKAGE", "package_function", "stage_function"]

PACKAGE = "analytics_payload"
HANDLER = f"{PACKAGE}.handler.lambda_handler"


def _sources() -> list[Path]:
    root = Path(str(resources.files(PACKAGE)))
    return sorted(p for p in root.glob("*.py") if p.is_file())


def stage_function(destination: Path) -> Path:
    """Copy the function's modules to ``destination/analytics_payload/`` (a /var/task tree)."""
    package = destination / PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    for source in _sources():
        shutil.copyfile(source, package / source.name)
    for path in [destination, package, *package.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return destination


def package_function(destination: Path, sink: EventSink | None = None) -> ArchiveInfo:
    """A deterministic deployment zip: the same sources always give the same sha256."""
    with tempfile.TemporaryDirectory(prefix="layerforge-function-") as scratch:
        staged = stage_function(Path(scratch))
        return write_layer_zip(staged, destination, prefix="", sink=emit_to(sink))
