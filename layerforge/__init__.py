"""layerforge: build, verify and prove AWS Lambda layers for scientific Python."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
