"""Scratch folders that disappear with the step that made them: on success, on error, on Ctrl-C
or SIGTERM (their making and their removal are sections no signal interrupts). A process that
ends under threads still running (an interrupted matrix) removes theirs first
(``interrupts.owed``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from layerforge.errors import UsageError
from layerforge.interrupts import deferred, owed

__all__ = ["build_scratch_parent", "remove_beside", "remove_tree", "scratch_dir"]

#: A build works in RAM (a tmpfs) only with this much room there and memory to spare: a layer
#: is at most 250 MB unzipped; pip's unpacked wheels and the zip come on top of it.
RAM_SCRATCH_MINIMUM = 3 << 30
_RAM_FOLDER = Path("/dev/shm")


def _make_writable(function: object, path: str, _error: object) -> None:
    """rmtree's error handler: a read-only folder (an extracted layer) is made writable first."""
    target = Path(path)
    for item in (target.parent, target):
        try:
            item.chmod(item.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
        except OSError:
            return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)


def remove_tree(path: Path) -> None:
    """Remove ``path`` completely, in a section signals cannot interrupt."""
    with deferred():
        if path.exists() or path.is_symlink():
            shutil.rmtree(path, onerror=_make_writable)


def remove_beside(keep: Path) -> None:
    """Remove everything in ``keep``'s folder but ``keep``, best effort and from any thread
    (no signal handling): a build frees its tree and downloads once the zip is written, while
    verification reads the zip; the scratch folder's own removal finishes whatever is left."""
    with os.scandir(keep.parent) as entries:
        for entry in entries:
            if entry.name == keep.name:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()


def _tmpfs_mount_points() -> set[str]:
    try:
        lines = Path("/proc/self/mounts").read_text("utf-8").splitlines()
    except OSError:
        return set()
    return {fields[1] for fields in (line.split() for line in lines) if fields[2:3] == ["tmpfs"]}


def _available_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text("ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def build_scratch_parent(environ: dict[str, str] | None = None) -> tuple[Path | None, str]:
    """Where a build's scratch folder goes (None: the default temporary folder), and why.

    ``LAYERFORGE_SCRATCH`` wins, then an explicit ``TMPDIR``. Otherwise a RAM-backed
    ``/dev/shm`` with room and memory to spare: a build writes and deletes some 400 MB of
    short-lived files, which on a virtual machine's disk costs as much time as the work itself.
    Nothing about the location reaches the layer's bytes."""
    environ = dict(os.environ) if environ is None else environ
    chosen = environ.get("LAYERFORGE_SCRATCH")
    if chosen:
        folder = Path(chosen)
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            problem = "is not a writable folder" if folder.is_dir() else "is not a folder"
            raise UsageError(
                f"LAYERFORGE_SCRATCH={chosen} {problem}",
                hint="point it at an existing folder you can write to, or unset it",
            )
        return folder, f"LAYERFORGE_SCRATCH={chosen}"
    if environ.get("TMPDIR"):
        return None, f"TMPDIR={environ['TMPDIR']}"
    default = "the default temporary folder"
    if str(_RAM_FOLDER) not in _tmpfs_mount_points():
        return None, default
    try:
        usage = os.statvfs(_RAM_FOLDER)
    except OSError:
        return None, default
    room = usage.f_bavail * usage.f_frsize
    writable = os.access(_RAM_FOLDER, os.W_OK | os.X_OK)
    if writable and min(room, _available_memory()) >= RAM_SCRATCH_MINIMUM:
        return _RAM_FOLDER, f"{_RAM_FOLDER} (RAM-backed, {room >> 30} GiB free)"
    return None, default


@contextmanager
def scratch_dir(prefix: str, *, parent: Path | None = None) -> Iterator[Path]:
    """A fresh folder under ``parent`` (default: TMPDIR), removed when the block ends."""
    with contextlib.ExitStack() as stack:
        with deferred():  # made and owed as one step
            path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            stack.enter_context(owed(lambda: shutil.rmtree(path, onerror=_make_writable)))
            stack.callback(remove_tree, path)  # first on the way out, while still owed
        yield path
