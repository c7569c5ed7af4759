"""Building layers: ``build_layer(spec) -> BuildResult``."""

from __future__ import annotations

from layerforge.builder.cache import BuildCache
from layerforge.builder.pipeline import build_layer
from layerforge.builder.placement import manifest_path_for
from layerforge.builder.result import BuildResult, DriftEntry, ResolvedDistribution, StepReport

__all__ = [
    "BuildCache",
    "BuildResult",
    "DriftEntry",
    "ResolvedDistribution",
    "StepReport",
    "build_layer",
    "manifest_path_for",
]
