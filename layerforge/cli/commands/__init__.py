"""One module per family of commands; importing this package registers them all."""

from __future__ import annotations

from layerforge.cli.commands import aws, build, sandbox, verify

__all__ = ["aws", "build", "sandbox", "verify"]
