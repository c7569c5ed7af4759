"""Make matplotlib safe for Lambda before anything imports pyplot.

Lambda has no display, a read-only filesystem outside /tmp, and HOME unset or read-only, so
matplotlib's config and font cache go to a folder under /tmp and the backend is Agg.

/tmp is empty at every cold start, so matplotlib would build its font list there each time
(0.1-0.5 s). A layer that layerforge built ships that list beside its matplotlib
(``python/.layerforge/matplotlib/fontlist-v<N>.json``, made at build time for the layer's own
matplotlib and fonts); it is copied into the config folder first, so matplotlib reads it
instead (a read-only folder cannot be the config folder: matplotlib wants a writable one).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["configure_headless", "seed_font_list"]

#: Where a layerforge layer keeps the font list, relative to the folder matplotlib is in.
SHIPPED_FONT_LIST = Path(".layerforge", "matplotlib")


def _shipped_font_lists() -> list[Path]:
    """The font lists shipped with the matplotlib that ``import matplotlib`` will load."""
    found = importlib.util.find_spec("matplotlib")  # finds it without importing it
    if found is None or found.origin is None:
        return []
    folder = Path(found.origin).parent.parent / SHIPPED_FONT_LIST
    return sorted(folder.glob("fontlist-*.json"))


def seed_font_list(config_dir: Path) -> str | None:
    """Copy the layer's font list into ``config_dir`` (kept if one is there already: a warm
    environment's); the file's name, or None when the layer ships none."""
    shipped = _shipped_font_lists()
    for source in shipped:
        target = config_dir / source.name
        if not target.exists():
            shutil.copyfile(source, target)
    return ", ".join(p.name for p in shipped) or None


def configure_headless() -> dict[str, str | None]:
    """Select Agg and a writable config dir; returns what was set, for the logs."""
    config_dir = Path(tempfile.gettempdir()) / "matplotlib"
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["MPLCONFIGDIR"] = str(config_dir)
    os.environ["MPLBACKEND"] = "Agg"
    font_list = seed_font_list(config_dir)
    import matplotlib

    matplotlib.use("Agg")
    return {
        "backend": str(matplotlib.get_backend()).lower(),
        "mplconfigdir": str(config_dir),
        "display": os.environ.get("DISPLAY"),
        "font_list": font_list,
    }
