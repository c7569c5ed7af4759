"""Building layers: ``build_layer(spec) -> BuildResult``.

The names load on first use (PEP 562), so importing one module of the package (the zip writer,
say) does not import the whole pipeline and its Docker client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layerforge.builder.output.cache import BuildCache
    from layerforge.builder.output.manifest import Manifest, layer_target, read_manifest
    from layerforge.builder.output.placement import manifest_path_for
    from layerforge.builder.pipeline import build_layer
    from layerforge.builder.result import (
        BuildResult,
        DriftEntry,
        ResolvedDistribution,
        StepReport,
    )

__all__ = [
    "BuildCache",
    "BuildResult",
    "DriftEntry",
    "Manifest",
    "ResolvedDistribution",
    "StepReport",
    "build_layer",
    "layer_target",
    "manifest_path_for",
    "read_manifest",
]

_HOMES = {
    "BuildCache": "output.cache",
    "build_layer": "pipeline",
    "Manifest": "output.manifest",
    "layer_target": "output.manifest",
    "manifest_path_for": "output.placement",
    "read_manifest": "output.manifest",
    "BuildResult": "result",
    "DriftEntry": "result",
    "ResolvedDistribution": "result",
    "StepReport": "result",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"layerforge.builder.{_HOMES[name]}"), name)
    raise AttributeError(name)
