"""Content-addressed reuse of finished builds: unchanged inputs never resolve again."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from layerforge.builder.result import BuildResult

__all__ = ["BuildCache", "default_cache_dir"]


def default_cache_dir() -> Path:
    """``$LAYERFORGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/layerforge``, else ~/.cache/layerforge."""
    explicit = os.environ.get("LAYERFORGE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "layerforge"


class BuildCache:
    """Finished layers by the digest of everything that decides their bytes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_cache_dir()

    @staticmethod
    def key(inputs: Mapping[str, Any]) -> str:
        canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _folder(self, key: str) -> Path:
        return self.root / "builds" / key

    def lookup(self, key: str) -> tuple[Path, BuildResult] | None:
        folder = self._folder(key)
        try:
            data = json.loads((folder / "manifest.json").read_text("utf-8"))
            result = BuildResult.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        layer = folder / "layer.zip"
        if not layer.is_file() or layer.stat().st_size != result.zipped_bytes:
            return None
        return layer, result

    def store(self, key: str, layer: Path, result: BuildResult) -> None:
        """Keep a finished build; a half-written entry is never visible under its key."""
        folder = self._folder(key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key[:12]}."))
        try:
            shutil.copyfile(layer, staging / "layer.zip")
            text = json.dumps(result.to_dict(), indent=2, sort_keys=True)
            (staging / "manifest.json").write_text(text, "utf-8")
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
