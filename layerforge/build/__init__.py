"""Building layers: ``build_layer(spec) -> BuildResult``."""

from __future__ import annotations

from layerforge.build.builder import build_layer, manifest_path_for
from layerforge.build.cache import BuildCache
from layerforge.build.result import BuildResult, DriftEntry, ResolvedDistribution, StepReport

__all__ = [
    "BuildCache",
    "BuildResult",
    "DriftEntry",
    "ResolvedDistribution",
    "StepReport",
    "build_layer",
    "manifest_path_for",
]
