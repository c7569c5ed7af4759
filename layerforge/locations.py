"""Where layerforge keeps things between runs: its cache (finished builds, remembered
interpreters) and its state (crash logs). One place, so no room imports another for a path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["default_cache_dir", "state_dir"]


def default_cache_dir() -> Path:
    """``$LAYERFORGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/layerforge``, else ~/.cache/layerforge."""
    explicit = os.environ.get("LAYERFORGE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "layerforge"
    home = os.environ.get("HOME") or tempfile.gettempdir()
    return Path(home) / ".cache" / "layerforge"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/layerforge``, else ~/.local/state/layerforge (crash logs go there)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "layerforge"
