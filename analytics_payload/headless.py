"""Make matplotlib safe for Lambda before anything imports pyplot.

Lambda has no display, a read-only filesystem outside /tmp, and HOME unset or read-only, so
matplotlib's config and font cache go to a folder under /tmp and the backend is Agg.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["configure_headless"]


def configure_headless() -> dict[str, str | None]:
    """Select Agg and a writable config dir; returns what was set, for the logs."""
    config_dir = Path(tempfile.gettempdir()) / "matplotlib"
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["MPLCONFIGDIR"] = str(config_dir)
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib  # only after MPLCONFIGDIR and MPLBACKEND are set

    matplotlib.use("Agg")
    return {
        "backend": str(matplotlib.get_backend()).lower(),
        "mplconfigdir": str(config_dir),
        "display": os.environ.get("DISPLAY"),
    }
