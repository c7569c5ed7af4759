"""Finding a host interpreter of the target Python version (for bytecode), without guessing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["find_interpreter", "interpreter_version"]


def interpreter_version(python: Path) -> tuple[int, int] | None:
    """The (major, minor) that ``python`` reports, or None if it does not run."""
    try:
        done = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    major, _, minor = done.stdout.strip().partition(".")
    try:
        return int(major), int(minor)
    except ValueError:
        return None


def _candidates(version: tuple[int, int]) -> Iterator[Path]:
    name = f"python{version[0]}.{version[1]}"
    if sys.version_info[:2] == version:
        yield Path(sys.executable)
    found = shutil.which(name)
    if found:
        yield Path(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    yield from sorted(pyenv_root.glob(f"versions/{version[0]}.{version[1]}.*/bin/{name}"))
    uv_root = Path(os.environ.get("UV_PYTHON_INSTALL_DIR", Path.home() / ".local/share/uv/python"))
    yield from sorted(uv_root.glob(f"cpython-{version[0]}.{version[1]}.*/bin/{name}"))
    for prefix in ("/usr/local/bin", "/usr/bin"):
        yield Path(prefix) / name


def find_interpreter(version: tuple[int, int], explicit: Path | None = None) -> Path | None:
    """A working interpreter that reports ``version``: ``explicit`` if given, else a search."""
    candidates = [explicit] if explicit is not None else _candidates(version)
    for candidate in candidates:
        if candidate.exists() and interpreter_version(candidate) == version:
            return candidate
    return None
