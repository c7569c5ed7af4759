"""Shared fixtures: nothing here fakes what it tests; helpers build real artifacts."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private layerforge cache, so tests never see each other's builds."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("LAYERFORGE_CACHE_DIR", str(folder))
    return folder


def compile_shared_library(source: str, destination: Path, *flags: str) -> Path:
    """Compile C ``source`` into a real shared object with the host's gcc."""
    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc is needed to build test fixtures"
    c_file = destination.with_suffix(".c")
    c_file.write_text(source)
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-o", str(destination), str(c_file), *flags], check=True
    )
    c_file.unlink()
    return destination


def can_mount_read_only() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def run_on_read_only_copy(
    folder: Path, command: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with ``folder`` bind-mounted read-only onto itself (private mount ns)."""
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(folder), *command],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.fixture
def chdir_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path
