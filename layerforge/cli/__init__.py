"""The command line: Click commands that parse, call one core function and render.

``main(argv)`` is the entry point (``layerforge = layerforge.cli:main``) and the error boundary.
"""

from __future__ import annotations

from layerforge.cli.main import cli, main

__all__ = ["cli", "main"]
