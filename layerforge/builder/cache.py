"""Content-addressed reuse of finished builds: unchanged inputs never resolve again.

An entry is a folder named by the digest of everything that decides the layer's bytes, holding
``layer.zip`` and ``manifest.json`` (whose ``sha256`` and ``zipped_bytes`` record the zip). A hit
is delivered only if the zip still has exactly those bytes; a damaged entry is dropped and the
layer is rebuilt. As git trusts its index, a zip whose size, modification time and inode are
still those recorded when it was stored (``stat.json``) is trusted without rereading it and can
be placed by a hard link; any other is copied out while its sha256 is checked. The cache is an
optimisation: when it cannot be read or written (no HOME, a read-only disk) the build goes on
and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerforge.builder.result import BuildResult
from layerforge.interrupts import deferred

__all__ = ["BuildCache", "CacheHit", "default_cache_dir"]


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


@dataclass(frozen=True)
class CacheHit:
    key: str
    layer: Path
    result: BuildResult
    trusted: bool = False  # unchanged since it was stored: no need to reread it


def _signature(path: Path) -> list[int]:
    found = path.stat()
    return [found.st_size, found.st_mtime_ns, found.st_ino, found.st_dev]


def _unchanged(folder: Path) -> bool:
    try:
        recorded = json.loads((folder / "stat.json").read_text("utf-8"))
        return bool(recorded == _signature(folder / "layer.zip"))
    except (OSError, ValueError):
        return False


class BuildCache:
    """Finished layers by the digest of everything that decides their bytes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_cache_dir()
        self.warnings: list[str] = []

    @staticmethod
    def key(inputs: Mapping[str, Any]) -> str:
        canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _folder(self, key: str) -> Path:
        return self.root / "builds" / key

    def lookup(self, key: str) -> CacheHit | None:
        """The entry for ``key`` if its record is whole and its zip has the recorded size
        (the sha256 is checked when the zip is delivered)."""
        folder = self._folder(key)
        try:
            data = json.loads((folder / "manifest.json").read_text("utf-8"))
            result = BuildResult.from_dict(data)
            layer = folder / "layer.zip"
            if not layer.is_file() or layer.stat().st_size != result.zipped_bytes:
                self.discard(key, "its zip is missing or has the wrong size")
                return None
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.discard(key, f"its record is unreadable ({exc})")
            return None
        return CacheHit(key, layer, result, trusted=_unchanged(folder))

    def discard(self, key: str, reason: str) -> None:
        """Drop a damaged entry (best effort) and say why."""
        self.warnings.append(f"cache entry {key[:12]} was damaged ({reason}) and is rebuilt")
        with deferred():
            shutil.rmtree(self._folder(key), ignore_errors=True)

    def store(self, key: str, layer: Path, result: BuildResult) -> None:
        """Keep a finished build; a half-written entry is never visible under its key. Failing
        to store is a warning: the build itself succeeded."""
        folder = self._folder(key)
        staging: Path | None = None
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key[:12]}."))
            shutil.copyfile(layer, staging / "layer.zip")
            (staging / "layer.zip").chmod(0o644)  # as placed: a hard link needs no chmod
            text = json.dumps(result.to_dict(), indent=2, sort_keys=True)
            (staging / "manifest.json").write_text(text, "utf-8")
            signature = json.dumps(_signature(staging / "layer.zip"))
            (staging / "stat.json").write_text(signature, "utf-8")
            with deferred():
                if folder.exists():
                    shutil.rmtree(folder)
                staging.rename(folder)
        except OSError as exc:
            self.warnings.append(
                f"the build cache at {self.root} is not writable ({exc.strerror or exc}); "
                "the layer was built and placed, but will be rebuilt next time"
            )
        finally:
            if staging is not None and staging.exists():
                with deferred():
                    shutil.rmtree(staging, ignore_errors=True)
