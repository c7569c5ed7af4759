"""Content-addressed reuse of finished builds: unchanged inputs never resolve again.

An entry is a folder named by the digest of everything that decides the layer's bytes, holding
``layer.zip`` and ``manifest.json`` (whose ``sha256`` and ``zipped_bytes`` record the zip). A hit
is delivered only if the zip still has exactly those bytes; a damaged entry is dropped and the
layer is rebuilt. As git trusts its index, a zip whose size, modification time and inode are
still those recorded when it was stored (``stat.json``) is trusted without rereading it (it is
cloned into place, never linked: an output is a file of its own); any other is copied out
while its sha256 is checked. The cache is an optimisation: when it cannot be read or written
(no HOME, a read-only disk) the build goes on and says so.

Builds running at once share the cache: an advisory lock (``builds/.lock``) is held shared
while an entry is read (its record read and its zip opened: the open file is what a hit
delivers, whatever happens to the entry next) and exclusive while one is replaced or dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from layerforge.builder.output.placement import clone_file
from layerforge.builder.result import BuildResult
from layerforge.interrupts import deferred
from layerforge.locations import default_cache_dir

__all__ = ["BuildCache", "CacheHit"]


@dataclass(frozen=True)
class CacheHit:
    """A usable entry, its zip open (``with hit:`` closes it): what is delivered is this file,
    even if the entry is replaced or dropped meanwhile."""

    key: str
    layer: Path
    result: BuildResult
    reader: BinaryIO
    entry: tuple[int, int]  # the entry folder's device and inode: which version of the key
    trusted: bool = False  # unchanged since it was stored: no need to reread it

    def __enter__(self) -> CacheHit:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.reader.close()


def _signature(found: os.stat_result) -> list[int]:
    return [found.st_size, found.st_mtime_ns, found.st_ino, found.st_dev]


def _unchanged(folder: Path, reader: BinaryIO) -> bool:
    try:
        recorded = json.loads((folder / "stat.json").read_text("utf-8"))
        return bool(recorded == _signature(os.fstat(reader.fileno())))
    except (OSError, ValueError):
        return False


def _identity(folder: Path) -> tuple[int, int]:
    found = folder.stat()
    return found.st_dev, found.st_ino


def _open_lock(path: Path) -> int | None:
    """The lock file, made if need be; a read-only cache that has none is read unlocked (no
    one can change it either)."""
    with contextlib.suppress(OSError):
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    with contextlib.suppress(OSError):
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    return None


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

    @contextlib.contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        handle = _open_lock(self.root / "builds" / ".lock")
        try:
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            if handle is not None:
                os.close(handle)

    def lookup(self, key: str) -> CacheHit | None:
        """The entry for ``key`` if its record is whole and its zip has the recorded size
        (the sha256 is checked when the zip is delivered)."""
        folder = self._folder(key)
        if not (folder / "manifest.json").exists():
            return None
        with self._locked(exclusive=False):
            found = self._read(key, folder)
        if isinstance(found, CacheHit):
            return found
        if found is not None:
            self.discard(key, found[0], entry=found[1])
        return None

    def _read(self, key: str, folder: Path) -> CacheHit | tuple[str, tuple[int, int]] | None:
        """A hit, or why the entry (which version of it) is damaged, or None if it is gone."""
        try:
            entry = _identity(folder)
        except OSError:
            return None
        with contextlib.ExitStack() as opened:
            try:
                result = BuildResult.from_dict(json.loads((folder / "manifest.json").read_bytes()))
                reader = opened.enter_context((folder / "layer.zip").open("rb"))
            except FileNotFoundError:
                return "its zip or its record is missing", entry
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                return f"its record is unreadable ({exc})", entry
            if os.fstat(reader.fileno()).st_size != result.zipped_bytes:
                return "its zip has the wrong size", entry
            opened.pop_all()  # the hit owns the open zip now
        trusted = _unchanged(folder, reader)
        return CacheHit(key, folder / "layer.zip", result, reader, entry, trusted=trusted)

    def discard(self, key: str, reason: str, *, entry: tuple[int, int] | None = None) -> None:
        """Drop a damaged entry (best effort) and say why; with ``entry``, only that version of
        it (another build may have replaced it with a good one meanwhile)."""
        self.warnings.append(f"cache entry {key[:12]} was damaged ({reason}) and is rebuilt")
        folder = self._folder(key)
        with contextlib.suppress(OSError), self._locked(exclusive=True), deferred():
            if entry is None or _identity(folder) == entry:
                shutil.rmtree(folder, ignore_errors=True)

    def store(self, key: str, layer: Path, result: BuildResult) -> None:
        """Keep a finished build; a half-written entry is never visible under its key. Failing
        to store is a warning: the build itself succeeded."""
        folder = self._folder(key)
        staging: Path | None = None
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            with deferred():  # made and remembered in one step: a signal between leaves none
                staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key[:12]}."))
            clone_file(layer, staging / "layer.zip")
            (staging / "layer.zip").chmod(0o644)
            text = json.dumps(result.to_dict(), indent=2, sort_keys=True)
            (staging / "manifest.json").write_text(text, "utf-8")
            signature = json.dumps(_signature((staging / "layer.zip").stat()))
            (staging / "stat.json").write_text(signature, "utf-8")
            with self._locked(exclusive=True), deferred():
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
