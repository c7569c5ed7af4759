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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on loopback, spoken to over HTTP like AWS."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Environment that points boto3 at the moto server (what AWS_ENDPOINT_URL does for real)."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint
