"""Putting a layer in place: the zip and its manifest are one unit.

``check_output`` runs before anything is built (a bad ``-o`` fails in a second, not after the
build). A ``StagedLayer`` stages both files beside their destinations (copying and hashing the
zip in one pass, so the bytes placed are the bytes that were verified; a build stages while it
verifies), then swaps both in a section that no signal can split; if the second swap fails, the
first is undone. Two processes placing the same pair take turns: the swap holds an advisory
lock beside the output (``.<name>.lock``, there only while it is held). Nothing half-written
is ever left behind.

An output never shares its file with another output or with the cache: it is always a copy of
its own (a copy-on-write reflink where the file system offers one, else a copy in the kernel),
so editing one output in place changes nothing else.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from layerforge.errors import CheckFailedError, LayerforgeError, UsageError
from layerforge.interrupts import deferred, placing

__all__ = [
    "MANIFEST_SUFFIX",
    "StagedLayer",
    "check_output",
    "check_output_name",
    "clone_file",
    "copy_verified",
    "discard_rejected",
    "manifest_path_for",
    "place_layer",
    "rejected_report_path",
    "staged_layer",
]

MANIFEST_SUFFIX = ".manifest.json"

#: ``ioctl(dest, FICLONE, source)``: a copy-on-write clone (btrfs, XFS, bcachefs; linux/fs.h)
_FICLONE = 0x40049409


def manifest_path_for(output: Path) -> Path:
    """The manifest beside a zip, named from its whole name but a final ``.zip``:
    ``dist/layer.zip`` -> ``dist/layer.manifest.json``, ``out/python3.11-x86_64`` ->
    ``out/python3.11-x86_64.manifest.json``."""
    name = output.name.removesuffix(".zip") or output.name
    return output.with_name(name + MANIFEST_SUFFIX)


def rejected_report_path(output: Path) -> Path:
    """Where a build over its budget reports beside ``output``: ``dist/layer.zip`` ->
    ``dist/layer.zip.over-budget.json`` (ending neither in ``.zip`` nor in the manifest's
    suffix, nothing takes it for a layer or a manifest)."""
    return output.with_name(output.name + ".over-budget.json")


def discard_rejected(output: Path) -> None:
    """A layer was placed at ``output``: an earlier build's over-budget report is stale."""
    with contextlib.suppress(OSError):
        rejected_report_path(output).unlink(missing_ok=True)


def _unusable(path: Path, reason: str) -> UsageError:
    return UsageError(
        f"cannot write the layer to {path}: {reason}",
        hint="choose another -o (a file path, or an existing folder)",
    )


def _first_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _sharing_manifest(output: Path) -> list[Path]:
    """The other zip names with the same manifest: ``out/a`` for ``out/a.zip``, and back."""
    names = {output.name.removesuffix(".zip"), output.name + ".zip"} - {"", output.name}
    manifest = manifest_path_for(output)
    return [p for p in map(output.with_name, sorted(names)) if manifest_path_for(p) == manifest]


def check_output_name(output: Path) -> None:
    """A zip may have any name but a manifest's."""
    if output.name.endswith(MANIFEST_SUFFIX):
        raise _unusable(output, f"a name ending in {MANIFEST_SUFFIX} is a manifest's")


def check_output(output: Path) -> None:
    """Fail now, before any work, if the zip or its manifest could not be written there."""
    check_output_name(output)
    manifest = manifest_path_for(output)
    for other in _sharing_manifest(output):
        if other.is_file():
            raise _unusable(output, f"{manifest} would be the manifest of {other} too")
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


@contextlib.contextmanager
def _reading(source: Path | BinaryIO) -> Iterator[BinaryIO]:
    """``source`` read from its start: a path is opened (and closed), an open file is kept."""
    if isinstance(source, Path):
        with source.open("rb") as reader:
            yield reader
    else:
        source.seek(0)
        yield source


def copy_verified(source: Path | BinaryIO, destination: Path, expected_sha256: str | None) -> str:
    """Copy ``source`` (a path or an open file) to ``destination`` while hashing it; a mismatch
    with ``expected_sha256`` raises before anything uses the copy. Returns the sha256."""
    digest = hashlib.sha256()
    with _reading(source) as reader, destination.open("wb") as writer:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
            writer.write(block)
        writer.flush()
        os.fsync(writer.fileno())
    found = digest.hexdigest()
    if expected_sha256 is not None and found != expected_sha256:
        raise CheckFailedError(
            f"{reader.name} changed: its sha256 is {found}, not the {expected_sha256} recorded",
            hint="the last good layer was kept; rebuild with --no-cache",
        )
    return found


def _copy_in_kernel(reader: int, writer: int) -> None:
    """The whole of ``reader`` into ``writer`` without passing through this process: a
    copy-on-write clone where the file system offers it, else ``copy_file_range`` (which
    may itself share extents), else ``sendfile``."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(writer, _FICLONE, reader)
        return
    size, offset = os.fstat(reader).st_size, 0
    try:
        while offset < size:
            copied = os.copy_file_range(reader, writer, size - offset, offset)
            if copied == 0:
                break
            offset += copied
    except OSError as exc:  # another file system (EXDEV), or no copy_file_range here
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        os.lseek(writer, offset, os.SEEK_SET)
        while offset < size:
            sent = os.sendfile(writer, reader, offset, size - offset)
            if sent == 0:
                break
            offset += sent


def clone_file(source: Path | BinaryIO, destination: Path) -> None:
    """``destination`` becomes a file of its own with ``source``'s bytes (nothing is hashed:
    for a source known unchanged), durable before anyone renames it into place."""
    with _reading(source) as reader, destination.open("wb") as writer:
        _copy_in_kernel(reader.fileno(), writer.fileno())
        os.fsync(writer.fileno())


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


def _is_current(handle: int, path: Path) -> bool:
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(handle)
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


@contextlib.contextmanager
def _pair_lock(manifest: Path) -> Iterator[None]:
    """The advisory lock of the pair whose manifest is ``manifest`` (``-o out/a`` and ``-o
    out/a.zip`` share it, as they share that manifest): another process placing the same
    pair waits. The lock file is removed by its holder before it lets go, so a waiter that
    wakes up holding a removed file tries again (the file is never left behind)."""
    path = manifest.with_name(f".{manifest.name.removesuffix(MANIFEST_SUFFIX)}.lock")
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if _is_current(handle, path):
                break
        except BaseException:
            os.close(handle)
            raise
        os.close(handle)
    try:
        yield
    finally:
        with deferred():
            try:
                path.unlink(missing_ok=True)
            finally:
                os.close(handle)


class StagedLayer:
    """The zip (and then its manifest) beside their destinations, not yet in place: ``fill``
    copies and hashes the zip there (a build does it while verification reads the zip),
    ``commit`` swaps both in. Whatever was staged and not committed is removed on exit."""

    def __init__(self, output: Path) -> None:
        self.output, self.manifest = output, manifest_path_for(output)
        self._staged: list[Path] = []

    def _temporary(self, destination: Path) -> Path:
        with deferred():  # made and remembered in one step: a signal between leaves no .partial
            handle, name = tempfile.mkstemp(
                dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial"
            )
            os.close(handle)
            self._staged.append(Path(name))
        return Path(name)

    def fill(self, source: Path | BinaryIO, sha256: str, *, trusted: bool = False) -> float:
        """Stage ``source`` (a path or an open file, whose sha256 must be ``sha256``); a
        ``trusted`` source (known unchanged) is cloned without rereading it, any other is
        copied while it is hashed. Returns the seconds it took."""
        started = time.monotonic()
        try:
            self.zip = self._temporary(self.output)
            if trusted:
                clone_file(source, self.zip)
            else:
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
            # the lock, then the section no signal splits (refused once cancelled): whatever
            # decides whether (and what) to swap is decided under the lock, by the holder
            with _pair_lock(self.manifest), placing(self.output):
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
    source: Path | BinaryIO,
    sha256: str,
    manifest_text: str,
    output: Path,
    *,
    trusted: bool = False,
) -> None:
    """Put ``source`` (a path or an open file, whose sha256 must be ``sha256``) at ``output``
    and the manifest beside it, together or not at all (see ``StagedLayer``)."""
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
