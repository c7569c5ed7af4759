"""What every command gets from the group: the renderer that main() made."""

from __future__ import annotations

import click

from layerforge.console import Renderer

__all__ = ["renderer"]


def renderer(json_output: bool) -> Renderer:
    """The renderer main() created (JSON mode decided from argv), or a fresh one."""
    context = click.get_current_context(silent=True)
    found = context.find_object(Renderer) if context is not None else None
    if isinstance(found, Renderer):
        found.json_output = json_output or found.json_output
        return found
    return Renderer(json_output=json_output)
