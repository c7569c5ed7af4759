"""Which runtime and architecture a layer zip is for: flags, else its manifest, else defaults."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from layerforge.builder.placement import manifest_path_for
from layerforge.runtimes import Architecture, Runtime, get_runtime
from layerforge.settings import SettingValueError, to_arch, to_runtime
from layerforge.spec import DEFAULT_ARCH, DEFAULT_RUNTIME

__all__ = ["layer_target", "recorded_target"]

_MAX_MANIFEST_BYTES = 16 * 2**20


def recorded_target(layer: Path) -> tuple[Runtime | None, Architecture | None]:
    """What the layer's manifest records, if it exists and makes sense; never an error."""
    manifest = manifest_path_for(layer)
    try:
        if not manifest.is_file() or manifest.stat().st_size > _MAX_MANIFEST_BYTES:
            return None, None
        recorded = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError):
        return None, None
    if not isinstance(recorded, dict):
        return None, None
    runtime: Runtime | None = None
    arch: Architecture | None = None
    with contextlib.suppress(SettingValueError):
        runtime = to_runtime(recorded.get("runtime"))
    with contextlib.suppress(SettingValueError):
        arch = to_arch(recorded.get("architecture"))
    return runtime, arch


def layer_target(
    layer: Path, runtime: Runtime | None, arch: Architecture | None
) -> tuple[Runtime, Architecture]:
    recorded_runtime, recorded_arch = recorded_target(layer)
    return (
        runtime or recorded_runtime or get_runtime(DEFAULT_RUNTIME),
        arch or recorded_arch or Architecture.parse(DEFAULT_ARCH),
    )
