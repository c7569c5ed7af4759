"""Building layers: ``build_layer(spec) -> BuildResult``.

The names load on first use (PEP 562), so importing one module of the package (the zip writer,
say) does not import the whole pipeline and its Docker client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layerforge.builder.cache import BuildCache
    from layerforge.builder.pipeline import build_layer
    from layerforge.builder.placement import manifest_path_for
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
    "ResolvedDistribution",
    "StepReport",
    "build_layer",
    "manifest_path_for",
]

_HOMES = {
    "BuildCache": "cache",
    "build_layer": "pipeline",
    "manifest_path_for": "placement",
    "BuildResult": "result",
    "DriftEntry": "result",
    "ResolvedDistribution": "result",
    "StepReport": "result",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"layerforge.builder.{_HOMES[name]}"), name)
    raise AttributeError(name)
