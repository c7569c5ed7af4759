"""Putting a layer in place: the zip and its manifest are one unit.

``check_output`` runs before anything is built (a bad ``-o`` fails in a second, not after the
build). A ``StagedLayer`` stages both files beside their destinations (copying and hashing the
zip in one pass, so the bytes placed are the bytes that were verified; a build stages while it
verifies), then swaps both in a section that no signal can split; if the second swap fails, the
first is undone. Readers see the old pair
or the new pair, never a mix, and nothing half-written is ever left behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from layerforge.errors import CheckFailedError, LayerforgeError, UsageError
from layerforge.interrupts import deferred, placing

__all__ = [
    "StagedLayer",
    "check_output",
    "copy_verified",
    "manifest_path_for",
    "place_layer",
    "staged_layer",
]


def manifest_path_for(output: Path) -> Path:
    """``dist/layer.zip`` -> ``dist/layer.manifest.json``."""
    return output.with_name(f"{output.stem}.manifest.json")


def _unusable(path: Path, reason: str) -> UsageError:
    return UsageError(
        f"cannot write the layer to {path}: {reason}",
        hint="choose another -o (a file path, or an existing folder)",
    )


def _first_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_output(output: Path) -> None:
    """Fail now, before any work, if the zip or its manifest could not be written there."""
    manifest = manifest_path_for(output)
    for path in (output, manifest):
        if path.is_dir():
            raise _unusable(path, "a folder of that name exists")
        if path.exists() and not path.is_file():
            raise _unusable(path, "it exists and is not a regular file")
    existing = _first_existing(output.parent)
    if not existing.is_dir():
        raise _unusable(output, f"{existing} is not a folder")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=output.parent, prefix=".layerforge-probe-")
        os.close(handle)
        Path(probe).unlink()
    except OSError as exc:
        raise _unusable(output, exc.strerror or str(exc)) from None


def copy_verified(source: Path, destination: Path, expected_sha256: str | None) -> str:
    """Copy ``source`` to ``destination`` while hashing it; a mismatch with ``expected_sha256``
    raises before anything uses the copy. Returns the sha256."""
    digest = hashlib.sha256()
    with source.open("rb") as reader, destination.open("wb") as writer:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
            writer.write(block)
        writer.flush()
        os.fsync(writer.fileno())
    found = digest.hexdigest()
    if expected_sha256 is not None and found != expected_sha256:
        raise CheckFailedError(
            f"{source} changed: its sha256 is {found}, not the {expected_sha256} recorded",
            hint="the last good layer was kept; rebuild with --no-cache",
        )
    return found


def _backup(path: Path) -> Path | None:
    """A second name for the current file (a hard link, or a copy), so a swap can be undone."""
    if not path.exists():
        return None
    backup = path.with_name(f".{path.name}.{os.getpid()}.previous")
    backup.unlink(missing_ok=True)
    try:
        os.link(path, backup)
    except OSError:
        copy_verified(path, backup, None)
    return backup


def _swap(zip_staged: Path, manifest_staged: Path, output: Path, manifest: Path) -> None:
    backup = _backup(output)
    try:
        zip_staged.replace(output)
        try:
            manifest_staged.replace(manifest)
        except BaseException:
            if backup is not None:
                backup.replace(output)
            else:
                output.unlink(missing_ok=True)
            raise
    finally:
        if backup is not None:
            backup.unlink(missing_ok=True)


def _linked(source: Path, staged: Path) -> bool:
    """``staged`` becomes a hard link to ``source`` where the file system allows."""
    try:
        staged.unlink()
        os.link(source, staged)
    except OSError:
        return False
    return True


class StagedLayer:
    """The zip (and then its manifest) beside their destinations, not yet in place: ``fill``
    copies and hashes the zip there (a build does it while verification reads the zip),
    ``commit`` swaps both in. Whatever was staged and not committed is removed on exit."""

    def __init__(self, output: Path) -> None:
        self.output, self.manifest = output, manifest_path_for(output)
        self._staged: list[Path] = []

    def _temporary(self, destination: Path) -> Path:
        handle, name = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial"
        )
        os.close(handle)
        self._staged.append(Path(name))
        return Path(name)

    def fill(self, source: Path, sha256: str, *, trusted: bool = False) -> float:
        """Stage ``source`` (whose sha256 must be ``sha256``); a ``trusted`` source (known
        unchanged) is hard-linked where the file system allows, any other is copied while it
        is hashed. Returns the seconds it took."""
        started = time.monotonic()
        try:
            self.zip = self._temporary(self.output)
            if not (trusted and _linked(source, self.zip)):
                copy_verified(source, self.zip, sha256)
            if self.zip.stat().st_mode & 0o777 != 0o644:
                self.zip.chmod(0o644)
        except OSError as exc:
            raise _placement_error(self.output, exc) from None
        return round(time.monotonic() - started, 3)

    def commit(self, manifest_text: str) -> None:
        """The staged zip and ``manifest_text`` in place, together or not at all."""
        try:
            staged = self._temporary(self.manifest)
            staged.write_text(manifest_text, "utf-8")
            staged.chmod(0o644)
            with placing(self.output):  # refused once cancelled; no signal splits it
                _swap(self.zip, staged, self.output, self.manifest)
        except OSError as exc:
            raise _placement_error(self.output, exc) from None

    def discard(self) -> None:
        with deferred():
            for path in self._staged:
                path.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_layer(output: Path) -> Iterator[StagedLayer]:
    """A ``StagedLayer`` for ``output``; nothing staged outlives the block."""
    check_output(output)
    staged = StagedLayer(output)
    try:
        yield staged
    finally:
        staged.discard()


def place_layer(
    source: Path, sha256: str, manifest_text: str, output: Path, *, trusted: bool = False
) -> None:
    """Put ``source`` (whose sha256 must be ``sha256``) at ``output`` and the manifest beside it,
    together or not at all (see ``StagedLayer``)."""
    with staged_layer(output) as staged:
        staged.fill(source, sha256, trusted=trusted)
        staged.commit(manifest_text)


def _placement_error(output: Path, exc: OSError) -> LayerforgeError:
    if exc.errno == errno.ENOSPC:
        return LayerforgeError(
            f"out of disk space while writing {output}",
            hint="free space there and rebuild; the last good layer was kept",
        )
    return LayerforgeError(
        f"cannot write {output}: {exc.strerror or exc}",
        hint="check the folder's permissions; the last good layer was kept",
    )
