"""The command line: Click commands that parse, call one core function and render.

``main(argv)`` is the entry point (``layerforge = layerforge.cli:main``) and the error boundary.
As the process's entry point it takes the signals before anything heavy is imported: this
module imports nothing until ``main`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (the process's own arguments when None) and return the exit
    code; see ``layerforge.cli.app.main``."""
    if argv is None:
        from layerforge.interrupts import exit_at_once_on_signals

        exit_at_once_on_signals()
    from layerforge.cli.app import main as run

    return run(argv)


def __getattr__(name: str) -> Any:
    if name == "cli":
        from layerforge.cli.app import cli

        return cli
    raise AttributeError(name)
