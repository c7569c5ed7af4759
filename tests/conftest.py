"""Shared fixtures: nothing here fakes what it tests; helpers build real artifacts.

Markers say what a test needs: ``docker`` (an engine), ``moto`` (the moto server), ``network``
(the package index), ``slow``. A test that uses a fixture needing one of them gets its marker
here, so ``pytest -m "not docker"`` leaves out every test that would start a container. A
``docker`` test skips where no engine answers, and fails instead under CI (or
LAYERFORGE_REQUIRE_DOCKER=1), where every test must run.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from layerforge.cli import main

#: the fixtures that bring each marker with them (directly or through the fixtures they use)
MARKER_FIXTURES = {
    "docker": {"docker_client"},
    "moto": {"moto_endpoint"},
    "network": {"seed_build", "plain_recipe_layer"},
}


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in MARKER_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


@functools.cache
def _docker_unavailable() -> str | None:
    from layerforge.containers import connect
    from layerforge.errors import LayerforgeError

    try:
        connect().close()
    except LayerforgeError as exc:
        return exc.message
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is None:
        return
    reason = _docker_unavailable()
    if reason is not None:
        if sandbox_required():
            pytest.fail(f"Docker is required here but unavailable: {reason}")
        pytest.skip(f"no Docker engine (scripts/test.sh starts one): {reason}")


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _moto_docker_host() -> None:
    """moto asks once per process (cached) where its Lambda containers reach it, with an
    ``os.popen`` it never closes (moto/settings.py get_docker_host): its pipe and its child
    would be left to the garbage collector, in whichever test came next. Asked here first,
    with the same command run to the end."""
    from moto import settings

    def popen(command: str, *_: object) -> io.StringIO:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
        return io.StringIO(done.stdout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "popen", popen)
        settings.moto_server_host()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on loopback, spoken to over HTTP like AWS.

    moto runs Lambda functions in Docker: MOTO_DOCKER_LAMBDA_IMAGE names the local Lambda-like
    image, host networking lets the function reach this server, MOTO_PORT tells it the port.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    settings = {
        "MOTO_PORT": str(port),
        "MOTO_DOCKER_NETWORK_MODE": "host",
        "MOTO_DOCKER_LAMBDA_IMAGE": os.environ.get(
            "LAYERFORGE_TEST_IMAGE", "layerforge/lambda-python:3.11"
        ),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(name, value)
        _moto_docker_host()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        # moto executes state machines (Map states, Lambda tasks) only when told to
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status in (200, 201)
        yield f"http://127.0.0.1:{port}"
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


def sandbox_required() -> bool:
    """In CI (and scripts/test.sh) Docker and bwrap tests must run: a missing one fails them."""
    return bool(os.environ.get("LAYERFORGE_REQUIRE_DOCKER") or os.environ.get("CI"))


def json_document(out: str) -> Any:
    """The JSON document in a command's stdout. Other output may precede it (an in-process
    moto server prints notes about the Docker host it detects), so it is found, not assumed."""
    lines = out.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.strip() == "{":
            try:
                return json.loads("".join(lines[number:]))
            except ValueError:
                continue
    return out


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """``layerforge ARGV`` in-process: (exit code, the JSON document on stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json_document(captured.out), captured.err


@pytest.fixture(scope="session")
def docker_client() -> Any:
    """The engine's client (the ``docker`` marker this brings has checked that it answers)."""
    from layerforge.containers import connect

    return connect()


@pytest.fixture(scope="session")
def lambda_image(docker_client: Any) -> str:
    """The local Lambda-like image that tests/images/build-images.sh makes."""
    import docker.errors

    image = os.environ.get("LAYERFORGE_TEST_IMAGE", "layerforge/lambda-python:3.11")
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        message = f"image {image} missing: run tests/images/build-images.sh"
        if sandbox_required():
            pytest.fail(message)
        pytest.skip(message)
    return image


@pytest.fixture(scope="session")
def arm64_image(docker_client: Any) -> str:
    """The local arm64 Lambda-like image (runs under qemu-aarch64 through binfmt)."""
    import docker.errors

    from layerforge.errors import SandboxError
    from layerforge.runtimes import Architecture
    from layerforge.sandbox.emulation import require_emulation

    image = os.environ.get("LAYERFORGE_TEST_IMAGE_ARM64", "layerforge/lambda-python:3.11-arm64")
    try:
        docker_client.images.get(image)
        require_emulation(Architecture.ARM64)
    except (docker.errors.ImageNotFound, SandboxError) as exc:
        message = f"arm64 image {image} or emulation missing ({exc}): run scripts/test.sh"
        if sandbox_required():
            pytest.fail(message)
        pytest.skip(message)
    return image


@pytest.fixture(scope="session")
def arm64_rootfs() -> Path:
    """The arm64 root filesystem tests/images/build-images.sh makes for the bwrap sandbox."""
    folder = Path(
        os.environ.get("LAYERFORGE_ROOTFS_ARM64", "/var/tmp/layerforge-images/bookworm-arm64")
    )
    if not (folder / "usr/bin/python3.11").exists():
        message = f"no arm64 root filesystem at {folder}: run scripts/test.sh"
        if sandbox_required():
            pytest.fail(message)
        pytest.skip(message)
    return folder


def managed_containers(client: Any) -> list[str]:
    """Containers this test process started and that still exist (other runs on the same
    engine have their own: each container names the pid of the process that started it)."""
    from layerforge.containers import OWNER_LABEL, iter_labelled

    return [c.id for c in iter_labelled(client) if c.labels.get(OWNER_LABEL) == str(os.getpid())]


SEED_PINS = ["numpy==1.26.4", "pandas==1.5.3", "matplotlib==3.8.4", "seaborn==0.12.2"]


@pytest.fixture(scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("layerforge-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERFORGE_CACHE_DIR", str(folder))
        patch.chdir(folder)
        yield folder


@pytest.fixture(scope="session")
def seed_build(private_cache: Path) -> dict[str, Any]:
    """The default build (payload pins, python3.11, x86_64), made once through the CLI."""
    output = private_cache / "dist" / "seed.zip"
    with contextlib.redirect_stdout(io.StringIO()):  # not into the first test's capsys
        assert main(["build", "--backend", "cross", "--json", "--output", str(output)]) == 0
    manifest: dict[str, Any] = json.loads(output.with_name("seed.manifest.json").read_text())
    return manifest


@pytest.fixture(scope="session")
def plain_recipe_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed pins installed the way AWS documents it: pip --platform manylinux2014 -t python/."""
    root = tmp_path_factory.mktemp("plain-recipe")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--platform",
            "manylinux2014_x86_64",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            "3.11",
            "--target",
            str(root / "python"),
            *SEED_PINS,
        ],
        check=True,
    )
    return root


@pytest.fixture(autouse=True)
def _no_pulls_from_public_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test traffic stays on this machine: an image pull may only go to a loopback registry.

    No registry is reachable here anyway; this guard makes sure no test even tries one.
    """
    from layerforge import containers

    real_pull = containers._pull

    def guarded(client: Any, image: str, platform: str | None, sink: Any) -> None:
        if not image.startswith(("127.0.0.1:", "localhost:")):
            raise containers.ContainerError(
                f"test guard: no pull of {image} from a public registry"
            )
        real_pull(client, image, platform, sink)

    monkeypatch.setattr(containers, "_pull", guarded)


def old_pair_and_new_zip(tmp_path: Path) -> tuple[Path, Path]:
    """``dist/layer.zip`` and its manifest as a last good build left them, and a new zip to put
    in their place: (the output, the new zip)."""
    output = tmp_path / "dist" / "layer.zip"
    output.parent.mkdir()
    output.write_bytes(b"old zip")
    output.with_name("layer.manifest.json").write_text("old manifest")
    source = tmp_path / "new.zip"
    source.write_bytes(b"new zip")
    return output, source


def make_wheel(folder: Path, name: str, version: str, modules: dict[str, bytes]) -> Path:
    """A pure-Python wheel of ``modules`` (paths in the wheel -> bytes), with its metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    files = {
        **modules,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\n"
        f"Version: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    rows = []
    for member, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{member},sha256={digest},{len(data)}")
    rows.append(f"{info}/RECORD,,")
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
        archive.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    return path


def make_private_wheel(folder: Path, version: str = "1.0") -> Path:
    """A private pure-Python wheel, as a company's own build would publish it."""
    return make_wheel(folder, "private_pkg", version, {"private_pkg/__init__.py": b"ANSWER = 42\n"})
